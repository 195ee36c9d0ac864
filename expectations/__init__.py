"""The publish gate: Great Expectations suites over raw sources, staging events and the
candidate marts. `expectations.gate.run_gate` runs it; `expectations.suites` defines the
suites (one function each); `expectations.frames` reads the frames they validate."""
