"""The thumbnail route's own query parsing agrees with `parse_qs` on every query string."""

from urllib.parse import parse_qs

from hypothesis import given
from hypothesis import strategies as st

from order_service.adapters.http.images_api import thumbnail_query

# Names and values as clients write them, and the characters that change parsing.
_PIECES = st.sampled_from(
    ["w", "h", "fit", "format", "256", "cover", "", "=", "&", "%41", "+", "é"]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_first_values_match_parse_qs(query: str) -> None:
    expected = {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}
    assert thumbnail_query(query.encode("latin-1")) == expected


def test_a_plain_query_is_split_without_decoding() -> None:
    assert thumbnail_query(b"w=256&h=&fit=cover&w=9&format") == {
        "w": "256",
        "h": "",
        "fit": "cover",
        "format": "",
    }
