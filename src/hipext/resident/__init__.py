"""The resident evaluator: `hipext evaluate` answered by a per-user background process that has the app loaded.

A fresh interpreter that builds hipext's pydantic models costs several times the CPU of the evaluation itself, so
the console script enters `client` (standard library only), which hands the command to `server` over a Unix socket
and falls back to running it in process whenever the server is absent, stale, busy too long or in any doubt.
"""
