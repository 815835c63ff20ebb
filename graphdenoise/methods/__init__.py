"""Training methods: plain BPR and the denoising methods, by name (:data:`METHODS`)."""
from .base import METHODS, Method, MethodBase, MethodConfig, SamplingSpec, SetupContext, StepContext, l2_term
from .bpr import BPR

__all__ = ["METHODS", "Method", "MethodBase", "MethodConfig", "SamplingSpec", "SetupContext", "StepContext", "l2_term",
           "BPR"]
from .til import TIL, TILMI, TILMIK, TILUI, TILConfig

__all__ += ["TIL", "TILUI", "TILMI", "TILMIK", "TILConfig"]
from .wbpr import WBPR, WBPRConfig
from .aobpr import AOBPR, AOBPRConfig
from .pris import PRIS, PRISConfig
from .tce import TCE, TCEConfig
from .rce import RCE, RCEConfig
from .tce_bpr import TCEBPR, TCEBPRConfig
from .rce_bpr import RCEBPR, RCEBPRConfig
from .bod import BOD, BODConfig
from .bsl import BSL, BSLConfig, BSLTanh, BSLTanhConfig

__all__ += ["WBPR", "WBPRConfig", "AOBPR", "AOBPRConfig", "PRIS", "PRISConfig", "TCE", "TCEConfig", "RCE",
            "RCEConfig", "TCEBPR", "TCEBPRConfig", "RCEBPR", "RCEBPRConfig", "BOD", "BODConfig", "BSL",
            "BSLConfig", "BSLTanh", "BSLTanhConfig"]

# The natural-noise denoisers of the RecSys'25 benchmark and their successors.
from .deca import DeCA, DeCAConfig, DeCAP, DeCAPConfig
from .dcf import DCF, DCFConfig
from .udt import UDT, UDTConfig
from .pld import PLD, PLDConfig
from .sgdl import SGDL, SGDLConfig

__all__ += ["DeCA", "DeCAConfig", "DeCAP", "DeCAPConfig", "DCF", "DCFConfig", "UDT", "UDTConfig", "PLD",
            "PLDConfig", "SGDL", "SGDLConfig"]
