#!/usr/bin/env python3
"""Word error rate: reference and hypothesis files of "id<TAB>text" lines -> WER per id and total.

Words are lower-cased with punctuation other than apostrophes dropped; the error count is the
word-level Levenshtein distance (substitutions + deletions + insertions)."""
import re
import sys


def words(text):
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def distance(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1]


def load(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, text = line.rstrip("\n").partition("\t")
            if key:
                out[key] = text
    return out


def main():
    ref, hyp = load(sys.argv[1]), load(sys.argv[2])
    errors = total = 0
    for key, text in sorted(ref.items()):
        r, h = words(text), words(hyp.get(key, ""))
        e = distance(r, h)
        errors += e
        total += len(r)
        if "-v" in sys.argv[3:]:
            print(f"  {key}: {e}/{len(r)}  {hyp.get(key, '')}", file=sys.stderr)
    print(f"{100.0 * errors / max(total, 1):.2f} {errors} {total}")


if __name__ == "__main__":
    main()
