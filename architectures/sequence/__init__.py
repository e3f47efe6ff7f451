"""Family H: sequence, language and multimodal models (spec §2 H). Each module registers its variants."""

from architectures.sequence import seq2seq_bahdanau  # noqa: F401
from architectures.sequence import recurrent  # noqa: F401,E402
from architectures.sequence import conv1d  # noqa: F401,E402
from architectures.sequence import language_models  # noqa: F401,E402
from architectures.sequence import embeddings  # noqa: F401,E402
from architectures.sequence import seq2seq  # noqa: F401,E402
from architectures.sequence import transformers  # noqa: F401,E402
from architectures.sequence import memory  # noqa: F401,E402
from architectures.sequence import neural_gpu  # noqa: F401,E402
from architectures.sequence import captioning  # noqa: F401,E402
