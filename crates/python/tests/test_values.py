"""Python values through the KV store: what round-trips exactly, and what is refused with which error."""

from __future__ import annotations

import math

import pytest

import in_mem

ROUND_TRIPS = [
    None,
    True,
    False,
    0,
    -1,
    42,
    -(2**63),
    2**63 - 1,
    2**63,  # the u64 range above i64::MAX
    2**64 - 1,
    0.0,
    -0.0,
    1.5,
    -2.25e300,
    math.inf,
    -math.inf,
    "",
    "plain text",
    "ünïcödé ✓ 字",
    b"",
    b"\x00\xff raw bytes",
    [],
    [1, "two", 3.0, None, b"\x04"],
    {},
    {"name": "Ada", "visits": 3, "tags": ["a", "b"], "nested": {"deep": {"er": [2**64 - 1]}}},
    [[[[]]]],
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_values_round_trip_exactly(run: in_mem.Run, value: object) -> None:
    run.kv.put("v", value)
    back = run.kv.get("v")
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, float) and value == 0.0:
        assert math.copysign(1.0, back) == math.copysign(1.0, value)


def test_a_big_int_stays_an_int_of_the_same_value(run: in_mem.Run) -> None:
    run.kv.put("big", 2**64 - 1)
    run.kv.put("edge", 2**63)
    assert run.kv.get("big") == 18446744073709551615
    assert run.kv.get("edge") == 9223372036854775808


def test_nan_round_trips_in_kv(run: in_mem.Run) -> None:
    run.kv.put("nan", float("nan"))
    assert math.isnan(run.kv.get("nan"))


def test_a_tuple_is_stored_as_a_list(run: in_mem.Run) -> None:
    run.kv.put("t", (1, (2, 3), "x"))
    assert run.kv.get("t") == [1, [2, 3], "x"]


def test_bytearray_reads_back_as_bytes(run: in_mem.Run) -> None:
    run.kv.put("b", bytearray(b"abc"))
    assert run.kv.get("b") == b"abc"


def test_subclasses_of_stored_types_are_stored_as_the_base_type(run: in_mem.Run) -> None:
    class Name(str):
        pass

    class Counts(dict):
        pass

    run.kv.put("s", Name("ada"))
    run.kv.put("d", Counts(a=1))
    assert type(run.kv.get("s")) is str and run.kv.get("s") == "ada"
    assert type(run.kv.get("d")) is dict and run.kv.get("d") == {"a": 1}


def test_nested_containers_to_the_depth_limit_are_stored(run: in_mem.Run) -> None:
    # 63 lists around a scalar: depth 64, the limit.
    value: object = 1
    for _ in range(63):
        value = [value]
    run.kv.put("deep", value)
    assert run.kv.get("deep") == value


def test_one_level_deeper_is_refused_with_the_engines_message(run: in_mem.Run) -> None:
    value: object = 1
    for _ in range(64):
        value = [value]
    with pytest.raises(in_mem.LimitExceeded) as err:
        run.kv.put("too-deep", value)
    assert str(err.value) == "value nests 65 levels deep, more than the limit of 64"
    assert isinstance(err.value, ValueError)
    assert not run.kv.exists("too-deep")


def test_a_list_that_contains_itself_is_refused_not_recursed_forever(run: in_mem.Run) -> None:
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(in_mem.LimitExceeded, match="deeper than the limit of 64"):
        run.kv.put("cycle", cycle)
    looped: dict = {}
    looped["me"] = looped
    with pytest.raises(in_mem.LimitExceeded):
        run.kv.put("cycle", looped)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**400], ids=["2**64", "-2**63-1", "10**400"])
def test_ints_outside_the_stored_range_are_overflow_errors(run: in_mem.Run, value: int) -> None:
    with pytest.raises(OverflowError, match=r"outside the range in_mem stores, -2\*\*63 to 2\*\*64 - 1"):
        run.kv.put("n", value)
    assert not run.kv.exists("n")


def test_a_huge_int_is_named_briefly_in_the_error(run: in_mem.Run) -> None:
    with pytest.raises(OverflowError) as err:
        run.kv.put("n", 10**400)
    assert len(str(err.value)) < 200


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (object(), "object"),
        (1 + 2j, "complex"),
        (range(3), "range"),
        (memoryview(b"x"), "memoryview"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v,
)
def test_unsupported_types_are_type_errors_naming_the_type(
    run: in_mem.Run, value: object, type_name: str
) -> None:
    with pytest.raises(TypeError) as err:
        run.kv.put("x", value)
    assert f"cannot store a value of type '{type_name}'" in str(err.value)
    assert not isinstance(err.value, in_mem.Error)


def test_an_unsupported_type_deep_inside_a_container_is_named(run: in_mem.Run) -> None:
    with pytest.raises(TypeError, match="'set'"):
        run.kv.put("x", {"ok": [1, 2, {"bad": {3}}]})
    assert not run.kv.exists("x")


def test_dict_keys_must_be_text(run: in_mem.Run) -> None:
    with pytest.raises(TypeError, match="dict keys must be str to be stored, not 'int'"):
        run.kv.put("x", {1: "one"})
    with pytest.raises(TypeError, match="not 'bytes'"):
        run.kv.put("x", {b"k": "v"})


def test_a_value_over_the_size_limit_is_refused(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.LimitExceeded) as err:
        run.kv.put("big", b"x" * (4 * 1024 * 1024 + 1))
    assert "more than the limit of 4194304 bytes" in str(err.value)


def test_keys_are_text_or_bytes_and_text_is_its_utf8(run: in_mem.Run) -> None:
    run.kv.put("clé", 1)
    assert run.kv.get("clé".encode()) == 1
    run.kv.put(b"\xff\x00", 2)
    assert run.kv.get(b"\xff\x00") == 2
    with pytest.raises(TypeError, match="keys are str or bytes, not 'int'"):
        run.kv.put(3, "x")


def test_an_empty_key_is_invalid_input(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.InvalidInput, match="key is empty"):
        run.kv.put("", 1)


def test_a_key_over_the_limit_is_refused(run: in_mem.Run) -> None:
    with pytest.raises(in_mem.LimitExceeded, match="key is 1025 bytes, more than the limit of 1024 bytes"):
        run.kv.put("k" * 1025, 1)
