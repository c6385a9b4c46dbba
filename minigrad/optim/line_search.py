"""Strong-Wolfe line search for L-BFGS (Nocedal & Wright, Numerical Optimization, Algorithms 3.5 and 3.6).

Along a descent direction d from x, find a step t whose loss f(t) = loss(x + t d) satisfies

    f(t) <= f(0) + c1 t f'(0)          sufficient decrease (Armijo)
    |f'(t)| <= c2 |f'(0)|              the slope has flattened (strong curvature condition)

Phase 1 grows t until an interval [lo, hi] is known to contain such a step; phase 2 ("zoom")
shrinks the interval by cubic interpolation until one is found. A point on the line is kept as
(t, f, g, gtd): step, loss, flat gradient, slope g.d.
"""
import math


def cubic_minimum(t1, f1, gtd1, t2, f2, gtd2, bounds=None):
    """Minimiser of the cubic through two points with their slopes, clipped to `bounds`.

    Falls back to the middle of the bounds when the cubic has no minimum.
    """
    lo, hi = bounds if bounds is not None else (min(t1, t2), max(t1, t2))
    d1 = gtd1 + gtd2 - 3 * (f1 - f2) / (t1 - t2)
    d2_square = d1 * d1 - gtd1 * gtd2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if t1 <= t2:
        t = t2 - (t2 - t1) * ((gtd2 + d2 - d1) / (gtd2 - gtd1 + 2 * d2))
    else:
        t = t1 - (t1 - t2) * ((gtd1 + d2 - d1) / (gtd1 - gtd2 + 2 * d2))
    return min(max(t, lo), hi)


def strong_wolfe(evaluate, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Returns (loss, flat gradient, t, number of evaluations) at the chosen step.

    evaluate(x, t, d) -> (loss, flat gradient) at x + t d (and leaves the parameters at x).
    f, g, gtd: loss, gradient and slope at t = 0.
    """
    d_norm = float(abs(d).max())
    f_new, g_new = evaluate(x, t, d)
    evals = 1
    gtd_new = float(g_new.dot(d))
    prev = (0.0, f, g, gtd)
    found = False
    bracket = None
    n = 0

    # ---- phase 1: extrapolate until the step is bracketed (or already good enough)
    while n < max_ls:
        if f_new > f + c1 * t * gtd or (n > 1 and f_new >= prev[1]):
            bracket = [prev, (t, f_new, g_new, gtd_new)]      # the loss went up: a minimum lies before t
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, found = [(t, f_new, g_new, gtd_new)], True
            break
        if gtd_new >= 0:
            bracket = [prev, (t, f_new, g_new, gtd_new)]      # the slope turned: a minimum lies before t
            break
        # still going down steeply: try a longer step, between 1.01 t and 10 t
        t_next = cubic_minimum(prev[0], prev[1], prev[3], t, f_new, gtd_new,
                               bounds=(t + 0.01 * (t - prev[0]), t * 10))
        prev = (t, f_new, g_new, gtd_new)
        t = t_next
        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new.dot(d))
        n += 1
    if n == max_ls:
        bracket = [(0.0, f, g, gtd), (t, f_new, g_new, gtd_new)]

    # ---- phase 2: zoom; bracket[low] is the best point so far, bracket[high] the other end
    insufficient_progress = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not found and n < max_ls:
        (t_a, f_a, _, gtd_a), (t_b, f_b, _, gtd_b) = bracket
        if abs(t_b - t_a) * d_norm < tolerance_change:
            break                                             # the interval is too small to matter
        t = cubic_minimum(t_a, f_a, gtd_a, t_b, f_b, gtd_b)
        # Do not step right next to an end of the interval twice in a row: move 10% inside instead.
        t_min, t_max = min(t_a, t_b), max(t_a, t_b)
        eps = 0.1 * (t_max - t_min)
        if min(t_max - t, t - t_min) < eps:
            if insufficient_progress or t >= t_max or t <= t_min:
                t = t_max - eps if abs(t - t_max) < abs(t - t_min) else t_min + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False

        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new.dot(d))
        n += 1
        point = (t, f_new, g_new, gtd_new)

        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = point                             # not lower than the best: shrink from above
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                found = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]                  # the minimum lies on the other side of t
            bracket[low] = point

    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals
