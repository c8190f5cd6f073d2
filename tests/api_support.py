"""The API tests' helpers, from pvcapid's own test helpers (:mod:`pvc_api.testing`)."""

from pvc_api.testing import KEY, PVCAPID, Api, free_port, running_api, start_api, stop_api

__all__ = ["KEY", "PVCAPID", "Api", "free_port", "running_api", "start_api", "stop_api"]
