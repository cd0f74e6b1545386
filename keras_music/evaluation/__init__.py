"""Downstream evaluation: embeddings, probes, scenarios, metrics, tables."""

from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.embedding_cache import load_embeddings
from keras_music.evaluation.epoch_selector import EpochSelector
from keras_music.evaluation.finetune import evaluate_finetune
from keras_music.evaluation.label_fractions import label_fraction_indices
from keras_music.evaluation.metrics import macro_f1
from keras_music.evaluation.metrics import pr_auc
from keras_music.evaluation.metrics import roc_auc
from keras_music.evaluation.metrics import top_k_accuracy
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe import train_probe
from keras_music.evaluation.probe_encoder import ProbeResult
from keras_music.evaluation.probe_encoder import probe_encoder
from keras_music.evaluation.probe_encoder import summarize_trials
from keras_music.evaluation.probe_heads import probe_head
from keras_music.evaluation.probe_protocol import PROBE_PROTOCOLS
from keras_music.evaluation.probe_protocol import ProbeProtocol
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.evaluation.results_table import ResultsTable
from keras_music.evaluation.segment_encoder import maest_preset_encoder
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.evaluation.segment_encoder import swin_segment_encoder
from keras_music.evaluation.tagger_scores import track_tag_scores
