"""The bad-input corpus and its checker (issue 13, "How it is shown").

corpus.py    writes the cases: returns of every feed damaged on purpose, from synth/ output
             and the shared fixtures, each with a manifest saying what the pipeline must do
checker.py   runs every case through `npd run` in a fresh NPD_HOME and checks the contract
test_corpus.py, test_mutations.py   the tests (a quick subset; the whole corpus is slow)

`npd bench badinput` runs the whole corpus and prints pass counts per feed and contract item,
with the time and peak memory of the hostile cases.
"""
