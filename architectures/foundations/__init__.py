"""Family A: foundations (spec §2 A). Each module registers its variants.

    perceptron.py     perceptron, mcculloch_pitts_neuron, adaline
    linear.py         linear_regression, logistic_regression, logistic_ova, linear_classifier
    mlp.py            mlp, time_window_ffnn
    constructive.py   blum_li_constructive
    associative.py    hopfield_net, kohonen_som, oja_pca_net
    cellular.py       cellular_nn

Models that learn by their own rule (perceptron, ADALINE, Hopfield, SOM, Oja/Sanger) subclass
`common.RuleTrainedModel`: `fit` applies the rule in `train_step`.
"""

from architectures.foundations import associative  # noqa: F401
from architectures.foundations import cellular  # noqa: F401
from architectures.foundations import constructive  # noqa: F401
from architectures.foundations import linear  # noqa: F401
from architectures.foundations import mlp  # noqa: F401
from architectures.foundations import perceptron  # noqa: F401
