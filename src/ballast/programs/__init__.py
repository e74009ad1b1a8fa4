"""Grid programs: price response and power credits, 4CP, reserves (RRS on UFR, ECRS, ERS),
demand response, emergencies (EEA), and the OpenADR VEN.

Each program is a rule (per tick, from information known at that tick, a cap and/or a floor on
miner power handed to the controller's rule stack) plus a settlement function. ``plan.py`` turns
a scenario's ``programs:`` section into cap/floor arrays; ``settle.py`` pays and scores them.
"""
