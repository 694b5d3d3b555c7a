"""The home simulator: a demo site of 渝北区 homes whose devices publish a plausible daily routine to MQTT.

`simulated_site` describes the homes (in the site-file schema the register loads), `hub.sim.routine` turns a
home and a simulated time into wire-format messages, and `run_simulation` publishes them to a broker.
"""

from hub.sim.errors import SimError
from hub.sim.publisher import run_simulation
from hub.sim.site import dump_site_yaml, simulated_site

__all__ = ["SimError", "dump_site_yaml", "run_simulation", "simulated_site"]
