"""What the convex network regressors share: the scale of the targets that their ``alpha``
is relative to.

Weight decay (and the group norms of the convex programs) is not equivariant to the units of
the targets: with the squared loss, targets ``s`` times larger fit the program of ``alpha / s``.
So the regressors fit the program whose regularization is ``alpha * y_scale_``, ``y_scale_``
the standard deviation of the training targets, the same program as ``alpha`` on targets
divided by ``y_scale_`` (scaled by ``y_scale_ ** 2``). ``alpha`` then means the same on any
targets, as it does for the inputs, which the estimators standardize: a default fit on targets
in the hundreds is neither a near-interpolation nor a proximal-gradient run that stops at
``max_iter``.

The programs themselves (:class:`~skconvex.problems.group_lasso_relu.TwoLayerReLUProblem` and
the others) take the targets centred when the output intercept is free (``y_offset``, their
weighted mean; the fitted network's output intercept adds it back), and their interior-point
form is solved in the units of the targets (``target_unit``): an interior-point fit is the same,
to rounding, whatever the offset and units of ``y``, and a first-order fit the same to its
tolerance.
"""

import numpy as np

from skconvex._linalg import constant_columns


def _target_scale(Y, sample_weight):
    """The scale of regression targets ``Y`` (n, K) that the convex network regressors'
    ``alpha`` is relative to: the (weighted) standard deviation pooled over the outputs (the
    root of the mean of their variances, a constant output counting as 0); 1 when every
    output is constant (:func:`skconvex._linalg.constant_columns`: a test relative to each
    output's mean, so targets in any units, 1e-13 or 1e13, get their own scale)."""
    mean = np.average(Y, axis=0, weights=sample_weight)
    var = np.average((Y - mean) ** 2, axis=0, weights=sample_weight)
    constant = constant_columns(mean, var, Y.shape[0])
    if constant.all():
        return 1.0
    scale = float(np.sqrt(np.mean(np.where(constant, 0.0, var))))
    return scale if np.isfinite(scale) and scale > 0 else 1.0


def _program_alpha(estimator):
    """The regularization of ``estimator``'s convex program: ``alpha`` times the scale of
    the training targets (``y_scale_``, regressors) or ``alpha`` (classifiers)."""
    return estimator.alpha * getattr(estimator, "y_scale_", 1.0)


def y_scale_doc(in_units_of_y):
    """The ``y_scale_`` entry of an Attributes section shared by a regressor and a classifier
    (numpydoc, 4-space indent), naming the fitted values ``in_units_of_y`` (a sentence
    fragment such as "``objective_`` and ``duality_gap_``")."""
    return f"""    y_scale_ : float
        Regressors: the (weighted) standard deviation of the training targets, pooled over
        the outputs (1 for constant targets). The program uses the regularization ``alpha *
        y_scale_``, which is the program of ``alpha`` on the targets divided by ``y_scale_``
        (its objective times ``y_scale_ ** 2``). In the units of ``y``:
        {in_units_of_y}.
"""
