"""Did a publication that a killed run left pending reach the shop? Decided from the shop."""

from __future__ import annotations

from stockbridge.integrations.shopfactory.levels import Pending, decide_landed

PENDING = Pending(3, "written", "before")
SEEN = {"A": 5_000, "B": 2_000, "C": 7_000}  # what the shop showed when it was prepared
TARGETS = {"A": 17_000, "B": 2_000, "C": 4_000}  # A delivered +12, C counted -3


def decide(shop, digest="other", published=None):
    return decide_landed(PENDING, TARGETS, SEEN, shop, digest, published)


def test_exact_when_the_file_is_what_was_written_or_what_was_there():
    assert decide(TARGETS, digest="written") == (True, True)
    assert decide(SEEN, digest="before") == (False, True)


def test_exact_when_the_stock_file_is_published_elsewhere():
    assert decide({"A": 1_000}, published="written") == (True, True)
    assert decide({"A": 1_000}, published="something else") == (False, True)


def test_web_sales_since_leave_the_unsold_changed_skus_to_tell():
    landed_then_sold = {"A": 17_000, "B": 1_000, "C": 3_000}
    assert decide(landed_then_sold) == (True, True)
    not_landed_then_sold = {"A": 4_000, "B": 1_000, "C": 7_000}
    assert decide(not_landed_then_sold) == (False, True)


def test_a_level_above_what_was_there_means_the_write_landed():
    assert decide({"A": 10_000, "B": 2_000, "C": 3_000}) == (True, True)
    assert decide({"A": 4_000, "B": 2_000, "C": 6_000}) == (False, True)


def test_every_changed_sku_sold_past_both_is_uncertain_and_said_so():
    assert decide({"A": 1_000, "B": 2_000, "C": 1_000}) == (False, False)
