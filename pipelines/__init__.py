"""Training-side code: data loading, synthetic data, training, evaluation and export.

Not part of the installed daemon; it imports `alprd` for the model, charset and geometry so that
training and serving share one definition of each.
"""
