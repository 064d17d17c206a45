"""The thin client of the Google Flow upscale API: no pandas, no widgets.

Modules: ``models`` (typed results), ``errors`` (the exception tree), ``policy``
(every decision, pure), ``client`` (FlowClient, AsyncFlowClient), ``download``,
``exchange`` (the record observers receive), ``connecting`` (``connect()``).
Import names from :mod:`flowup_nb`; this package imports nothing eagerly, so that
``flowup_nb.api.exchange`` stays cheap for the ledger.
"""
