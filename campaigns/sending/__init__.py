"""Sending a campaign, one module per job.

- loop        claim deliveries in chunks, build, hand over (SMTP rounds, one by one, or ESP batches)
- run         the state one send task threads through the loop (SendRun), and its outcome records
- ledger      acceptances committed the moment a backend can accept, folded into deliveries
- batches     ESP batch sends: one API call per language and format (merge fields)
- esp_syntax  which ESPs can batch, with which merge syntax, and why the others cannot
"""
