"""The __NAME__ pack: the action `hello` and the poll sensor `ticker`."""

import squall


def greeting(name: str) -> str:
    return f"hello, {name}"


@squall.action("hello")
def hello(params, ctx):
    # The host has already checked `params` against the schema in pack.toml
    # (and filled in the default name).
    squall.log.info(f"greeting {params['name']}")
    return {"message": greeting(params["name"])}


@squall.sensor("ticker")
def ticker(config, cursor):
    # One tick per poll, numbered from the cursor the host kept.
    n = int(cursor or 0) + 1
    return squall.Poll([squall.Event("__NAME__.tick", {"n": n})], cursor=str(n))
