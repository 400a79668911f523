from decimal import Decimal

from tests.chain.chain_store import make_chain, run


def test_smoke(tmp_path, databases):
    chain = make_chain(tmp_path, databases)
    chain.tills["hq"].set_article("A00001", price=Decimal("2.50"))
    summary = run(chain.configs["hq"])
    assert summary.state == "completed", summary.render()
    chain.tills["lyon"].sale(3)
    summary = run(chain.configs["lyon"])
    print(summary.render())
    assert summary.state == "completed", summary.render()
    assert len(chain.hq_rows("chain_ticket_lines")) == 3
    assert len(chain.tills["lyon"].rows("articles")) == 1
