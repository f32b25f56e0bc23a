"""What a search query may contain, how indices are named, how hits are merged."""

import uuid

import pytest

from order_service.domain.errors import InvalidInput
from order_service.domain.search import (
    MAX_QUERY_LENGTH,
    IndexName,
    SearchHit,
    merge_hits,
    parse_indices,
    parse_query,
    rank_to_score,
    user_document,
)


def test_query_is_reduced_to_lower_case_word_terms() -> None:
    query = parse_query("  Ada LOVELACE ada ")
    assert query.terms == ("ada", "lovelace")
    assert query.text == "Ada LOVELACE ada"


@pytest.mark.parametrize(
    ("raw", "terms"),
    [
        ('"ada" OR 1=1; DROP TABLE users; --', ("ada", "or", "1", "drop", "table", "users")),
        ("title:ada*", ("title", "ada")),
        ("NEAR(ada lovelace)", ("near", "ada", "lovelace")),
        ("a & b | !c <-> d:*", ("a", "b", "c", "d")),
        ("it's", ("it", "s")),
        ("snake_case", ("snake", "case")),
        ("Zürich straße", ("zürich", "straße")),
    ],
)
def test_operators_quotes_and_sql_become_plain_terms(raw: str, terms: tuple[str, ...]) -> None:
    assert parse_query(raw).terms == terms


@pytest.mark.parametrize("raw", ["", "   ", "!!!", "\"'*:()&|", "-- ;", "___"])
def test_a_query_without_letters_or_digits_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_query(raw)
    assert error.value.field == "q"


def test_a_very_long_query_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="at most"):
        parse_query("a" * (MAX_QUERY_LENGTH + 1))


def test_too_many_words_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="words"):
        parse_query("a b c d e f g h i")


def test_no_indices_means_all_and_names_are_deduplicated() -> None:
    assert parse_indices(None) == ()
    assert parse_indices(" ") == ()
    assert parse_indices("Products, users,products") == (IndexName.PRODUCTS, IndexName.USERS)


@pytest.mark.parametrize("raw", ["invoices", "users,", "users;orders", "' OR 1=1"])
def test_an_unknown_index_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_indices(raw)
    assert error.value.field == "indices"


def test_hits_are_merged_by_score_then_limited() -> None:
    users = [
        SearchHit(IndexName.USERS, "u1", "Ada", 0.9),
        SearchHit(IndexName.USERS, "u2", "B", 0.1),
    ]
    products = [SearchHit(IndexName.PRODUCTS, "p1", "Ada mug", 0.5)]
    merged = merge_hits([users, products], limit=2)
    assert [hit.id for hit in merged] == ["u1", "p1"]


def test_scores_map_into_the_unit_interval_monotonically() -> None:
    assert rank_to_score(0) == 0
    assert rank_to_score(-3) == 0
    assert 0 < rank_to_score(0.5) < rank_to_score(2) < 1


def test_a_users_email_parts_are_searchable() -> None:
    document = user_document(user_id=uuid.uuid4(), email="ada@example.com", name="Ada")
    assert "example" in document.body.split()
    assert document.title == "Ada"
