"""Everything between sources and sinks: the run config, the dispatch, the runner and the jobs.

``open_job`` (``dispatch.py``) classifies an input once and returns its job (``video.py``,
``images.py``, ``live.py``); every job runs through the one ``Runner`` (``runner.py``), and so does
``stream`` (``stream.py``). ``RunConfig`` (``config.py``) is the typed configuration of a run.
"""
from rainstream.pipeline.config import RunConfig, resume_identity
from rainstream.pipeline.dispatch import INPUT_KINDS, InputKind, classify, is_live_spec, open_job, open_source
from rainstream.pipeline.job import Interrupted, Job
from rainstream.pipeline.runner import Batcher, FrameLimit, Runner, RunSummary
from rainstream.pipeline.video import work_dir_for

__all__ = ["INPUT_KINDS", "Batcher", "FrameLimit", "InputKind", "Interrupted", "Job", "RunConfig", "RunSummary",
           "Runner", "classify", "is_live_spec", "open_job", "open_source", "resume_identity", "work_dir_for"]
