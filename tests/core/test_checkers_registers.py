"""The lost-updates checker (georep.core.checkers.registers) on hand-made register histories:
every acknowledged write is final, replaced by a write that read it, or named in the conflict
feed; one that is none of these is lost, named by key, value and index; a history that cannot
decide says "unknown". MV-register (policy crdt) values count one by one."""

from __future__ import annotations

from georep.core.checkers import lost_updates

from .test_history import History


def reg(key: str, v: str) -> dict:
    return {"id": key, "v": v}


def register_history(**more: dict) -> tuple[History, dict[str, int]]:
    """a is replaced by b (read, overwritten); c is a concurrent loser the feed names; d is a
    sibling in every region; b is final. ``more``: other keys' final items."""
    h = History()
    at = {"a": h.write(1, "k", "a"), "b": h.write(1, "k", "b", replaced="a"),
          "c": h.write(2, "k", "c", replaced="a"), "d": h.write(3, "k", "d")}
    h.final("register", {"k": reg("k", "b"), **more}, {"k": [reg("k", "b"), reg("k", "d")]})
    return h, at


def test_every_write_final_replaced_named_or_a_sibling_is_accounted():
    h, _ = register_history()
    h.conflicts({"table": "register", "key": {"id": "k"}, "winner": reg("k", "b"),
                 "losers": [reg("k", "c")], "siblings": []})
    result = lost_updates(h.ops)
    assert result["valid"] is True and result["writes"] == 4
    # b and d stand (final, sibling), a was read and replaced, c was overwritten unread: named
    assert result["accounted"] == {"final": 2, "replaced": 1, "in_feed": 1}


def test_a_write_neither_final_nor_replaced_nor_named_is_a_lost_update():
    h, at = register_history()
    h.conflicts()
    result = lost_updates(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"key": "k", "value": "c", "index": at["c"]}]


def test_an_mv_register_accounts_every_concurrent_value_and_every_value_a_write_replaced():
    """Policy crdt: the final ``v`` is a list of concurrent values, a write's ``replaced`` the
    list of values it superseded; a value in neither (nor named) is still lost."""
    h = History()
    h.write(1, "k", "a")
    h.write(2, "k", "b")
    h.write(1, "k", "c", replaced=["a", "b"])
    h.write(2, "k", "d")
    lost_one = h.write(3, "k", "e")
    h.final("register", {"k": {"id": "k", "v": ["c", "d"]}})
    h.conflicts()
    result = lost_updates(h.ops)
    assert result["accounted"] == {"final": 2, "replaced": 2, "in_feed": 0}
    assert result["valid"] is False
    assert result["lost"] == [{"key": "k", "value": "e", "index": lost_one}]


def test_an_mv_register_value_a_merge_kept_and_then_lost_is_a_lost_update():
    """Policy crdt: a merge's feed entry names its inputs as siblings and its winner holds
    them all, so it names no loss. A value it kept, gone from every final read with no write
    that replaced it, was lost (the feed does not account it)."""
    h = History()
    h.write(1, "k", "a")
    gone = h.write(2, "k", "b")
    h.final("register", {"k": {"id": "k", "v": ["a"]}})
    h.conflicts({"table": "register", "key": {"id": "k"}, "winner": {"id": "k", "v": ["a", "b"]},
                 "losers": [], "siblings": [{"id": "k", "v": ["a"]}, {"id": "k", "v": ["b"]}]})
    result = lost_updates(h.ops)
    assert result["accounted"] == {"final": 1, "replaced": 0, "in_feed": 0}
    assert result["valid"] is False
    assert result["lost"] == [{"key": "k", "value": "b", "index": gone}]


def test_a_write_that_won_a_conflict_and_then_vanished_is_a_lost_update():
    """The feed's winner is the value that stood: it names no loss. A winner later gone, with
    no write that read it, was lost (here a stale value came back in every region)."""
    h = History()
    h.write(1, "k", "a")
    won = h.write(2, "k", "b")
    h.final("register", {"k": reg("k", "a")})
    h.conflicts({"table": "register", "key": {"id": "k"}, "winner": reg("k", "b"),
                 "losers": [reg("k", "a")], "siblings": []})
    result = lost_updates(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"key": "k", "value": "b", "index": won}]


def test_a_replacement_completed_before_the_write_was_invoked_accounts_nothing():
    h = History()
    h.write(2, "k", "b", replaced="a")  # claims to have read a before a was written
    at = h.write(1, "k", "a")
    h.final("register", {"k": reg("k", "b")})
    h.conflicts()
    assert lost_updates(h.ops)["lost"] == [{"key": "k", "value": "a", "index": at}]


def test_an_info_write_on_the_key_makes_an_unaccounted_write_unknown():
    h, at = register_history()
    h.write(4, "k", "e", type_="info")  # may have read c and overwritten it
    h.conflicts()
    result = lost_updates(h.ops)
    assert result["valid"] == "unknown" and result["lost"] == []
    assert result["uncertain"] == [{"key": "k", "value": "c", "index": at["c"]}]


def test_a_definite_loss_outweighs_an_uncertain_one():
    h, _ = register_history(j=reg("j", "y"))
    h.write(4, "k", "e", type_="info")
    gone = h.write(5, "j", "x")
    h.conflicts()
    result = lost_updates(h.ops)
    assert result["valid"] is False
    assert result["lost"] == [{"key": "j", "value": "x", "index": gone}]
    assert result["uncertain_count"] == 1


def test_without_a_conflict_feed_a_write_only_the_feed_could_account_is_unknown():
    h, at = register_history()
    result = lost_updates(h.ops)
    assert result["valid"] == "unknown"
    assert result["needs_feed"] == [{"key": "k", "value": "c", "index": at["c"]}]
