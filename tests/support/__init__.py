"""What the tests share besides fixtures (conftest files hold fixtures only).

- :mod:`.databases`: the servers (reachability, scratch databases) and short-lived connections.
- :mod:`.scratch_pool`: scratch PostgreSQL databases emptied and reused from test to test.
- :mod:`.apps`: Flask apps of the tests, their engines, their migrations directory.
- :mod:`.cli`: running ``flask ...`` in process or as a subprocess.
- :mod:`.flask_process`: one real ``flask`` process running many commands of one scenario
  (each with its own environment and captured descriptors), where a subprocess per command
  would only add start-up time.
- :mod:`.fork_server`: real ``flask`` processes forked from a Python that has imported the
  libraries already (the reliability suite's killed runs and stampedes start hundreds).
- :mod:`.revisions`: revision-script builders (single- and multi-database templates).
- :mod:`.network`: a port that refuses connections (the "server unreachable" tests).
- :mod:`.timing`, :mod:`.xdist_groups`: the timing group, kept on one worker under
  ``--dist loadgroup`` (a pytest plugin, registered by the root ``conftest.py``).
- :mod:`.merge`, :mod:`.verify`, :mod:`.multidb`, :mod:`.schema`: the histories and helpers of
  those test packages.
"""
