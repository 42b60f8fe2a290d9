"""Runtime: the two labs and what they share.

The lab interface (:mod:`.surface`) and its data half (:mod:`.labdata`); the embedded lab
(:mod:`.embedded`: everything in one process, regions as moto servers from :mod:`.moto`); the live
lab (:mod:`.supervisor`, one replicator process per link, :mod:`.linkproc`, its control API,
:mod:`.control`, and its home, :mod:`.home`) and its client (:mod:`.live`); the event log of a
run (:mod:`.events`), waits with a deadline (:mod:`.waits`).
"""
