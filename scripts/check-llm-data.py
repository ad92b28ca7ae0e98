#!/usr/bin/env python3
"""Validate the hand-written language-model evaluation data in data/llm/.

Checks items.jsonl (one JSON object per line with id, question, choices,
answer and topic; 4 distinct short choices; answer in range; unique ids and
questions; every answer position used by 20-30% of the items; at least 300
items), counts the words of text-eval.txt and text-calib.txt (each at least
2,000), and checks that no sentence of text-eval.txt appears in
text-calib.txt (and that no item question does either).

Prints a one-line summary and exits 0, or prints every violation found and
exits 1. Python 3 standard library only.

Usage: python3 scripts/check-llm-data.py [DATA_DIR]   (default: data/llm)
"""

import json
import re
import sys
from collections import Counter
from pathlib import Path

MIN_ITEMS = 300
MIN_WORDS = 2000
POS_LO, POS_HI = 0.20, 0.30
MAX_CHOICE_WORDS = 8
TOPIC_PREFIX = {"science": "sci", "common_sense": "cs"}
BANNED_CHOICES = ("all of the above", "none of the above")
# A sentence at least this long may not appear even inside a longer sentence.
MIN_WORDS_FOR_CONTAINMENT = 6


def words(text):
    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())


def sentences(text):
    """Split prose into sentences: at ., ! or ? (optionally followed by a
    closing quote) and at blank lines."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        for s in re.split(r"(?<=[.!?])[\"')\]]*\s+", block):
            s = s.lstrip("\"'([")
            if words(s):
                out.append(s)
    return out


def check_items(path, errors):
    if not path.is_file():
        errors.append(f"{path}: missing")
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        errors.append(f"{path}: not valid UTF-8 ({e})")
        return None
    items = []
    ids = {}
    questions = {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if line != "" or n != len(text.split("\n")):
                errors.append(f"{path}:{n}: blank line")
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON ({e})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        expected = {"id", "question", "choices", "answer", "topic"}
        if set(obj) != expected:
            errors.append(f"{where}: fields {sorted(obj)} != {sorted(expected)}")
            continue
        iid, q, ch, ans, topic = (obj[k] for k in ("id", "question", "choices", "answer", "topic"))
        where = f"{where} ({iid})"
        if not isinstance(iid, str) or not isinstance(q, str) or not isinstance(topic, str):
            errors.append(f"{where}: id, question and topic must be strings")
            continue
        if topic not in TOPIC_PREFIX:
            errors.append(f"{where}: topic {topic!r} not one of {sorted(TOPIC_PREFIX)}")
        elif not re.fullmatch(TOPIC_PREFIX[topic] + r"-\d{3}", iid):
            errors.append(f"{where}: id should look like {TOPIC_PREFIX[topic]}-NNN for topic {topic}")
        if iid in ids:
            errors.append(f"{where}: duplicate id (first on line {ids[iid]})")
        ids.setdefault(iid, n)
        if not q.strip() or q != q.strip() or "\n" in q or "\r" in q:
            errors.append(f"{where}: empty question, stray whitespace or newline")
        key = " ".join(words(q))
        if key in questions:
            errors.append(f"{where}: duplicate question (first on line {questions[key]})")
        questions.setdefault(key, n)
        if not isinstance(ch, list) or len(ch) != 4 or not all(isinstance(c, str) for c in ch):
            errors.append(f"{where}: choices must be a list of 4 strings")
            continue
        if len({c.strip().lower() for c in ch}) != 4:
            errors.append(f"{where}: choices are not distinct: {ch}")
        for c in ch:
            nw = len(c.split())
            if c != c.strip() or "\n" in c or not 1 <= nw <= MAX_CHOICE_WORDS:
                errors.append(f"{where}: choice {c!r} must be 1-{MAX_CHOICE_WORDS} words, no stray whitespace")
            if any(b in c.lower() for b in BANNED_CHOICES):
                errors.append(f"{where}: banned choice {c!r}")
        if type(ans) is not int or not 0 <= ans < 4:
            errors.append(f"{where}: answer must be an integer 0..3, got {ans!r}")
            continue
        items.append(obj)
    if len(items) < MIN_ITEMS:
        errors.append(f"{path}: {len(items)} valid items, need at least {MIN_ITEMS}")
    if items:
        pos = Counter(o["answer"] for o in items)
        for p in range(4):
            share = pos[p] / len(items)
            if not POS_LO <= share <= POS_HI:
                errors.append(
                    f"{path}: answer position {p} is {share:.1%} of items, "
                    f"must be within {POS_LO:.0%}-{POS_HI:.0%}"
                )
    return items


def read_text(path, errors):
    if not path.is_file():
        errors.append(f"{path}: missing")
        return ""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        errors.append(f"{path}: not valid UTF-8 ({e})")
        return ""
    n = len(text.split())
    if n < MIN_WORDS:
        errors.append(f"{path}: {n} words, need at least {MIN_WORDS}")
    return text


def check_overlap(eval_text, calib_text, items, eval_path, calib_path, errors):
    calib_sents = {" ".join(words(s)) for s in sentences(calib_text)}
    calib_all = " " + " ".join(words(calib_text)) + " "
    shared = 0
    for s in sentences(eval_text):
        key = " ".join(words(s))
        long_enough = len(key.split()) >= MIN_WORDS_FOR_CONTAINMENT
        if key in calib_sents or (long_enough and f" {key} " in calib_all):
            shared += 1
            errors.append(f"{eval_path}: sentence also in {calib_path.name}: {s!r}")
    for o in items:
        key = " ".join(words(o["question"]))
        if len(key.split()) >= MIN_WORDS_FOR_CONTAINMENT and f" {key} " in calib_all:
            errors.append(f"{calib_path}: contains the question of item {o['id']}")
    return shared


def main():
    root = Path(__file__).resolve().parent.parent
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "data" / "llm"
    errors = []
    items_path = data / "items.jsonl"
    eval_path = data / "text-eval.txt"
    calib_path = data / "text-calib.txt"
    items = check_items(items_path, errors) or []
    eval_text = read_text(eval_path, errors)
    calib_text = read_text(calib_path, errors)
    check_overlap(eval_text, calib_text, items, eval_path, calib_path, errors)
    if errors:
        for e in errors:
            print(f"check-llm-data: {e}", file=sys.stderr)
        print(f"check-llm-data: FAILED with {len(errors)} violation(s)", file=sys.stderr)
        return 1
    topics = Counter(o["topic"] for o in items)
    pos = Counter(o["answer"] for o in items)
    print(
        f"check-llm-data: ok: {len(items)} items ("
        + ", ".join(f"{t} {topics[t]}" for t in sorted(topics))
        + "; answer positions "
        + " ".join(f"{p}:{pos[p]}" for p in range(4))
        + f"); text-eval {len(eval_text.split())} words, "
        f"text-calib {len(calib_text.split())} words, no shared sentences"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
