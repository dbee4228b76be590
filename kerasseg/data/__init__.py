"""Datasets: tf.data pipelines for real data, and a synthetic set for demos.

>>> from kerasseg.data import synthetic
"""
