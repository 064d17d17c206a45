"""The thin client of the Google Flow upscale API: no pandas, no widgets.

The bottom layer, pure, which every other layer may import: ``times`` (dates and
``Retry-After``), ``prices`` (the price list), ``media`` (MP4 signature, URLs without
their signature, the inline player), ``errors`` (the exception tree), ``models`` (the
typed records), ``accounts`` (what an account's tier allows), ``parsing`` (JSON bodies
into records), ``policy`` (every decision of the client) and ``exchange`` (the record
observers receive, and the only constructors of it). Above it the client: ``_base``,
``client`` (FlowClient, AsyncFlowClient), ``download``, ``waiting`` (the one wait engine)
with ``poll_plan`` (when to poll, learnt), and ``calls`` (the awaitable client protocol the
batch and the form depend on, instead of on the client classes). ``connecting``
(``connect()``) composes a client with a ledger or the simulator.

Import names from :mod:`flowup_nb`; this package imports nothing eagerly, so the ledger
and the batch can import a bottom module without loading the client.
"""
