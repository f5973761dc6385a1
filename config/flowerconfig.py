# Flower's configuration file (scripts/start/flower passes --conf=config/flowerconfig.py).
# Options come from FLOWER_* environment variables; this file only makes Flower show
# Switchboard truthfully: its /metrics behind its auth, every subscription's queue
# listed, paused ones included (apps/monitoring/flower.py says how and why).
from apps.monitoring.flower import flower_patch

flower_patch()
