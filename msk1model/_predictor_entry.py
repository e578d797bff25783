"""MLflow "model from code" entry point of the exported msk1model predictor.

MLflow runs this file when the predictor is loaded; the fitted state arrives as artefacts (JSON),
so loading needs no pickle.
"""

import mlflow

from msk1model.export import Msk1Predictor

mlflow.models.set_model(Msk1Predictor())
