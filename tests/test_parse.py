from l4r.parse import TitleMatcher, norm, parse_choice, parse_ranking, parse_rating

CANDS = [("1", "Birds, The (1963)"), ("2", "Toy Story (1995)"), ("3", "Remains of the Day, The (1993)"),
         ("4", "Alien (1979)")]


def test_norm_moves_articles_and_drops_year():
    assert norm("Birds, The (1963)") == "the birds"
    assert norm('"Toy Story"') == "toy story"


def test_ranking_tolerates_numbering_case_articles_and_typos():
    text = "1. The Birds (1963)\n2. toy story\n3. Remains of the Dy, The (1993)\n4. Star Wars (1977)\n5. Toy Story (1995)"
    items, stats = parse_ranking(text, CANDS)
    assert items == ["1", "2", "3"]
    assert stats == {"hallucinated": 1, "duplicates": 1}


def test_ranking_semicolon_form_of_figure2():
    items, stats = parse_ranking("Alien (1979); Birds, The (1963); Toy Story (1995)", CANDS)
    assert items == ["4", "1", "2"] and stats == {"hallucinated": 0, "duplicates": 0}


def test_unparseable_answer_gives_nothing():
    items, stats = parse_ranking("I cannot help with that", CANDS)
    assert items == [] and stats["hallucinated"] == 1


def test_choice_inside_a_sentence():
    assert parse_choice("The user would prefer Alien (1979).", CANDS) == "4"
    assert parse_choice("Neither.", CANDS) is None
    assert TitleMatcher(CANDS).match("  2) Toy Story ") == "2"


def test_rating_in_range_only():
    assert parse_rating("The user gave the rating of 5.", 1, 5) == 5.0
    assert parse_rating("In 1995 they'd give 4", 1, 5) == 4.0
    assert parse_rating("no idea", 1, 5) is None
