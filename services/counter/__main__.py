from services.counter import processes

wanted = processes.processes_wanted()
if wanted > 1:
    processes.supervise(wanted)  # imports nothing of the service: it only watches
else:
    import uvloop

    from services.common.web import run
    from services.counter.app import create_app

    # uvloop: the ingest's time goes largely to the event loop and its socket writes.
    uvloop.install()
    run(create_app, "counter", 8003, reuse_port=processes.is_worker())
