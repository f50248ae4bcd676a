"""The word query language and tokenizer (no database)."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from text_app.query import MAX_QUERY_CHARS, line_matches, parse_query, search_document, to_fts5, to_tsquery, tokenize


def test_tokenizer_folds_case_and_width_and_keeps_non_latin_words_whole():
    assert tokenize("ＳＥＲＩＡＬ No. 4471-B NO4471") == ["serial", "no", "4471", "b", "no", "4471"]
    assert tokenize("Привет, мир!") == ["привет", "мир"]
    assert tokenize("العربية हिन्दी") == ["العربية", "हिन्दी"]


def test_tokenizer_cuts_chinese_into_characters():
    assert tokenize("坦克部队2024 AK47") == ["坦", "克", "部", "队", "2024", "ak", "47"]
    assert search_document("坦克 tank") == "坦 克 tank"


def test_words_phrases_or_and_exclusions_compile_for_both_databases():
    q = parse_query('rifle "serial number" tank OR missile -training')
    assert [[t.tokens for t in g] for g in q.groups] == [[("rifle",)], [("serial", "number")], [("tank",), ("missile",)]]
    assert [t.tokens for t in q.excluded] == [("training",)]
    assert to_tsquery(q) == "('rifle') & (('serial' <-> 'number')) & ('tank' | 'missile') & !'training'"
    assert to_fts5(q) == '(("rifle") AND ("serial number") AND ("tank" OR "missile")) NOT "training"'


def test_punctuation_inside_a_word_makes_a_phrase():
    q = parse_query("4471-B")
    assert q.groups[0][0].tokens == ("4471", "b")


def test_chinese_word_is_a_phrase_of_its_characters():
    q = parse_query("坦克")
    assert to_tsquery(q) == "(('坦' <-> '克'))"


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("x" * (MAX_QUERY_CHARS + 1), f"at most {MAX_QUERY_CHARS}"),
        ("tank & rifle", "operator syntax"),
        ("tank | rifle", "operator syntax"),
        ("!tank", "operator syntax"),
        ("(tank)", "operator syntax"),
        ("tank*", "operator syntax"),
        ("title:tank", "operator syntax"),
        ("tank AND rifle", "AND is full-text operator syntax"),
        ("NEAR tank", "NEAR is full-text operator syntax"),
        ('"unclosed phrase', "Unbalanced double quote"),
        ("OR tank", "OR must stand between"),
        ("tank OR", "OR must stand between"),
        ("tank OR OR rifle", "OR must stand between"),
        ("-tank", "only excludes"),
        ("... ,,,", "no words"),
    ],
)
def test_bad_queries_are_refused_saying_what_is_wrong(text, says):
    with pytest.raises(InvalidInput) as info:
        parse_query(text)
    assert says in info.value.message
    assert "q" in info.value.fields


def test_operator_characters_inside_quotes_are_plain_text():
    q = parse_query('"AT&T (north)"')
    assert q.groups[0][0].tokens == ("at", "t", "north")


def test_too_many_terms_are_refused():
    with pytest.raises(InvalidInput, match="more than 32"):
        parse_query(" ".join(f"w{i}" for i in range(33)))


def test_line_matches_terms_and_phrases_in_order():
    q = parse_query('"serial number" tank')
    assert line_matches(q, "SERIAL NUMBER 4471")
    assert not line_matches(q, "number serial")
    assert line_matches(q, "Tank crossing")


def test_words_ocr_glued_together_are_searchable_one_by_one():
    from text_app.query import document_tokens

    assert document_tokens("Convoyoftrucks seen") == ["convoyoftrucks", "convoy", "of", "trucks", "seen"]
    assert document_tokens("Kalashnikov Mariupol") == ["kalashnikov", "mariupol"]  # a word of its own stays whole
    assert line_matches(parse_query('"of trucks"'), "Convoyoftrucks")


def test_ocr_slips_between_look_alikes_are_undone_from_their_neighbours():
    assert tokenize("BATTALI0N BR1GADE A1pha 98O1 4l7") == ["battalion", "brigade", "alpha", "9801", "417"]
    assert tokenize("R2D2 O1 10") == ["r", "2", "d", "2", "o", "1", "10"]  # only between two of the other kind


@pytest.mark.parametrize(
    "text",
    ["CONVOY NO4471 seen heading north at 10:45", "BATTALI0N BR1GADE A1pha 98O1", "serial#4471-B (x2)", "", "  ...  "],
)
def test_ascii_text_tokenizes_as_the_general_path_does(text):
    # ASCII text takes a regular expression; the same text followed by a non-ASCII word
    # goes through the per-character path, which must cut the ASCII part alike.
    assert tokenize(text + " идлиб") == tokenize(text) + ["идлиб"]
    assert tokenize(text + " 中") == tokenize(text) + ["中"]


def test_combining_marks_and_digits_split_as_before():
    # A mark stays with its letter; letters and digits still part, in any script.
    assert tokenize("café1945 e\u0301te\u0301 АК47") == ["café", "1945", "été", "ак", "47"]
