"""Reading untrusted HTTP input, for every surface that takes it (the Graph webhook, the
OAuth callbacks, the admin page and its API): one capped, time-limited body reader, one
strict JSON decoder and one form reader, each refusing with a 4xx that is counted.

It sits below `webhook` and `admin` so both use the same rules without importing each
other; it imports nothing of ours but the metrics it counts refusals in.
"""
