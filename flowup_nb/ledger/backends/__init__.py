"""The two places a ledger can live, behind one small interface.

``Ledger`` (store.py) speaks only to a ``Backend`` (base.py): write rows, run a small
query, read a result as an Arrow table. ``open_backend`` (opening.py) picks SQLite (a
file, the default) or PostgreSQL (a server shared by a team) from the location. Queries
are written once, with ``?`` placeholders and double-quoted column names, in the SQL both
databases share; each backend translates placeholders for its driver.
"""
