"""The Jepsen-style test harness: ``georep test`` and ``georep check``.

Place in the data flow: above the runtimes, below the CLI. :mod:`.runner` executes a
:class:`~georep.core.plan.Plan` against a lab (embedded or live) through the workload clients of
:mod:`.clients` and the nemeses of :mod:`georep.engine.nemesis`, recording a history with
:mod:`.recorder`; the pure checkers (:mod:`georep.core.checkers`) judge it; :mod:`.results`
writes ``results.json`` and the plots. The history format is documented in ``docs/harness.md``.
"""
