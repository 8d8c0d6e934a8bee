from .checkpoint import (AtomicLocalBackend, atomic_write,  # noqa: F401
                         load_from_local)
from . import fsdp  # noqa: F401  (registers the FSDP wrap policy)
from .hooks import *  # noqa: F401,F403
from .optim_wrappers import (FSDPAmpOptimWrapper,  # noqa: F401
                             FSDPOptimWrapper, sharded_clip_grad_norm_)
