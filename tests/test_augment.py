"""augment's rating scenario (attributes): the answer starts written so a small model keeps the format,
its values are parsed back, and values copied from the worked examples are counted."""
import orjson

from conftest import l4r
from l4r.answering import generated
from l4r.backends.base import Answer
from l4r.prompts import render_prompt
from l4r.stages.augment import parse_attributes


def records(text):
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_response_is_written_for_the_model_and_kept_in_the_answer():
    prompt = {"id": "attribute:1", "task": "attribute", "user": "", "item": "1", "instruction": "Fill in.",
              "input": "Title: Star Wars (1977)", "response": "Director:", "fields": ["director", "star"]}
    assert "".join(render_prompt(prompt)).endswith("### Response:\nDirector:")
    rec = generated(prompt, Answer(" George Lucas\nStar: Mark Hamill\n\n### Instruction", completion_tokens=9))
    assert rec["text"].startswith("Director: George Lucas") and rec["status"] == "ok"
    assert parse_attributes(rec["text"], prompt["fields"]) == {"director": "George Lucas", "star": "Mark Hamill"}
    assert "".join(render_prompt({**prompt, "response": None})).endswith("### Response:\n")
    restated = generated(prompt, Answer("Director: George Lucas\nStar: Mark Hamill"))   # a chat engine's reply
    assert restated["text"] == "Director: George Lucas\nStar: Mark Hamill"


def test_rating_augment_parses_and_counts_copied_values(prepared, tmp_path):
    prompts = records(l4r("augment", "--task", "rating", "--data", prepared, "--items", "3", "--emit-prompts",
                       "-o", "-").stdout)
    assert len(prompts) == 3 and all(p["response"] == "Director:" for p in prompts)
    answers = [" Joel Coen\nStar: Tom Hanks", " unknown\nStar: unknown", " The movie is a classic, and the director is"]
    done = tmp_path / "completions.jsonl"
    done.write_text("".join(orjson.dumps({"id": p["id"], "task": "attribute", "user": "", "item": p["item"],
                                          "text": p["response"] + a, "status": "ok"}).decode() + "\n"
                            for p, a in zip(prompts, answers)))
    run = l4r("augment", "--task", "rating", "--data", prepared, "--items", "3", "--completions", done, "-o", "-")
    attrs = [r["attrs"] for r in records(run.stdout)]
    assert attrs == [{"director": "Joel Coen", "star": "Tom Hanks"}, {}, {}]
    assert "2 attribute values; 2 repeat a worked example's value" in run.stderr   # Fargo's and Toy Story's
    assert "3 prompts, 3 answers, 2 unusable, 3 records" in run.stderr


def test_rating_augment_with_a_real_engine_keeps_the_format(prepared, tiny_llm, tmp_path):
    """The tiny random model writes nonsense, but every answer starts with the written field label."""
    out = tmp_path / "attributes.jsonl"
    run = l4r("augment", "--task", "rating", "--data", prepared, "--items", "2", "--model", tiny_llm, "-o", out)
    done = records((tmp_path / "attributes.jsonl.work" / "completions.jsonl").read_text())
    assert len(done) == 2 and all(c["text"].startswith("Director:") for c in done)
    assert len(records(out.read_text())) == 2 and "attribute values" in run.stderr
    stats = orjson.loads((tmp_path / "attributes.jsonl.stats.json").read_bytes())
    assert stats["stats"] == "augment" and stats["prompts"] == stats["records"] == 2
    assert {"unusable", "values", "copied"} <= set(stats)
