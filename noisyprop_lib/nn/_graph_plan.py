"""The plan :func:`~noisyprop_lib.nn.critical_init_` makes from a model's traced graph (private).

For every weight layer the plan finds the noise and the activation between it and
its *source* (the pre-activation it is a function of: a weight layer, a residual
sum, a normalisation layer or the input). If the theory covers that path the
layer is set analytically; otherwise (pooling, unknown modules and functions,
...) it is calibrated on data. Every residual connection ``skip + branch`` scales
the last weight or normalisation layer of its branch so that the sum's second
moment is ``growth ** (1 / L)`` times the skip's, ``L`` being the number of
residual connections on the longest path through the model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from torch import nn

from ..theory import ADDITIVE, LeakyReLU, Noise
from ._common import _fan_in, _Problem
from ._graph import GNode, ancestors, count_calls, residual_depth, shared_parameters, split_residual
from .walk import WalkedLayer, _is_lazy, _unsupported_module

_LEVEL = ("input", "weight", "norm", "add", "scale")  # nodes whose output is a pre-activation


@dataclass
class Step:
    """One thing to do to one layer: draw it analytically, or calibrate it against a reference node."""

    node: GNode
    rule: str  # "analytic" or "calibrated"
    sigma_w2: Optional[float] = None  # analytic draws
    sigma_b2: float = 0.0  # analytic draws: the bias variance
    ref: Optional[GNode] = None  # calibration: the node whose measured second moment sets the target ...
    ratio: float = 1.0  # ... times this ratio
    noise: str = "none"
    activation: str = ""
    why: str = ""
    reason: str = ""  # calibrated: what the theory does not cover
    end: Optional["_End"] = None  # the residual branch this layer ends, if any
    gain: Optional[float] = None  # calibrated normalisation: the weight (gamma) set


@dataclass
class Plan:
    steps: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (layer name, reason, fatal)
    skipped: list = field(default_factory=list)  # (layer name, reason): left unchanged by design
    notes: list = field(default_factory=list)


@dataclass
class _End:
    """The last scaled layer of a residual branch: the skip, the ratio of its target, the sum, the branch operand."""

    skip: GNode
    ratio: float
    why: str
    add: GNode
    branch: GNode
    needs_data: bool
    share: float  # the branch's target second moment over the skip's, g ** (1 / L) - 1


@dataclass
class _Feed:
    noise: object = None
    noise_src: Optional[nn.Module] = None
    act: object = None
    act_src: Optional[nn.Module] = None
    order: Optional[str] = None
    source: Optional[GNode] = None
    problem: Optional[str] = None


def _feed(g: GNode) -> _Feed:
    """Walk back from a layer's input to its source, collecting the noise and the activation on the way."""
    f = _Feed()
    seen = []  # (kind, node) backwards
    cur = g.inputs[0]
    while True:
        if cur.kind == "shape" and len(cur.inputs) == 1:
            cur = cur.inputs[0]
            continue
        if cur.kind == "noise":
            if f.noise is not None:
                f.problem = f.problem or f"two noise modules ({cur.label} and {seen_label(seen, 'noise')}) feed it; combine them into one noise model"
            else:
                f.noise, f.noise_src = cur.noise, cur.module
            seen.append(("noise", cur))
        elif cur.kind == "activation":
            if f.act is not None:
                f.problem = f.problem or f"two activation modules ({cur.label} and {seen_label(seen, 'activation')}) feed it"
            else:
                f.act, f.act_src = cur.activation, cur.module
            seen.append(("activation", cur))
        else:
            break
        if len(cur.inputs) != 1:
            break
        cur = cur.inputs[0]
    f.source = cur
    kinds = [k for k, _ in reversed(seen)]
    if kinds:
        f.order = "noise-first" if kinds[0] == "noise" else "activation-first"
    for attr in ("noise", "act"):
        if isinstance(getattr(f, attr), _Problem):
            f.problem = f.problem or getattr(f, attr).reason
            setattr(f, attr, None)
    if f.problem is None and cur.kind not in _LEVEL:
        f.problem = _fed_by(cur)
    elif f.problem is None and cur.kind == "add" and not cur.centred and f.act is not None:
        # a linear map needs only the second moment of its input; an activation needs a zero-mean Gaussian one
        f.problem = (f"it is fed through {f.act!r} by the residual sum {cur.node.name!r}, one of whose operands is not a "
                     "zero-mean pre-activation (a post-activation or pooled signal), which the mean-field theory of the "
                     "critical initialisation does not cover")
    return f


def _centred(g: GNode) -> bool:
    """Whether ``g`` carries a zero-mean pre-activation (the input, taken as one; a weight or normalisation output; a centred sum)."""
    while g.kind in ("shape", "scale", "noise") and len(g.inputs) == 1:
        g = g.inputs[0]
    return g.kind in ("input", "weight", "norm") or (g.kind == "add" and g.centred)


def short_reason(reason: str) -> str:
    """A reason without the list of what is supported (for the report)."""
    return reason.split("; supported between weight layers")[0]


def seen_label(seen, kind) -> str:
    return next(g.label for k, g in seen if k == kind)


def _fed_by(cur: GNode) -> str:
    if cur.module is not None:
        return _unsupported_module(cur.module)
    return (f"it is fed by {cur.label}, which critical_init_ does not analyse (the mean-field theory of the "
            "critical initialisation does not cover it)")


def anchor(g: GNode) -> GNode:
    """The nearest pre-activation upstream of ``g``'s input, whose second moment a calibrated layer preserves."""
    cur = g.inputs[0]
    while cur.kind not in _LEVEL and cur.inputs:
        cur = cur.inputs[0]
    return cur


def _norm_anchor(g: GNode) -> GNode:
    """What a normalisation layer restores: the source level of the weight layer feeding it (its own input
    otherwise), so that the level is kept even where the weight layer's analytic rule is approximate
    (zero padding at small spatial sizes)."""
    cur = g.inputs[0]
    while cur.kind == "shape" and cur.inputs:
        cur = cur.inputs[0]
    return anchor(cur) if cur.kind == "weight" else anchor(g)


def _branch_end(branch: GNode):
    """(last weight or normalisation layer of a branch, factor on the second moment after it) or a reason."""
    factor, cur, through_activation = 1.0, branch, False
    while True:
        if sum(1 for _ in cur.node.users) != 1:
            return f"{cur.label} is also used outside the branch"
        if cur.kind in ("weight", "norm"):
            if cur.kind == "norm" and getattr(cur.module, "weight", None) is None:
                return f"its last layer {cur.label} has no affine weight to scale"
            return cur, factor, through_activation
        if cur.kind == "noise" and isinstance(cur.noise, Noise) and cur.noise.kind != ADDITIVE:
            factor *= float(cur.noise.mu2)
        elif cur.kind == "scale":
            factor *= cur.factor
        elif cur.kind == "activation" and isinstance(cur.activation, LeakyReLU):
            # positively homogeneous, so scaling its input scales its output; on a zero-mean Gaussian
            # pre-activation it multiplies the second moment by (1 + alpha^2) / 2
            factor *= (1.0 + float(cur.activation.alpha) ** 2) / 2.0
            through_activation = True
        elif cur.kind != "shape":
            return f"it ends in {cur.label}, which cannot be scaled"
        if len(cur.inputs) != 1:
            return f"it ends in {cur.label}, which cannot be scaled"
        cur = cur.inputs[0]


def residual_ends(nodes: list[GNode], growth: float, plan: Plan) -> dict:
    """``{node index: (skip node, ratio, why)}`` for the last scaled layer of every residual branch."""
    anc = ancestors(nodes)
    L = residual_depth(nodes)
    per_block = growth ** (1.0 / L) if L else 1.0
    ends: dict = {}
    for g in nodes:
        if g.kind != "add":
            continue
        split = split_residual(nodes, g, anc)
        if split is None:
            g.kind = "other"
            plan.notes.append(f"{g.label} adds two signals without weight layers of their own; it is treated as an unknown function")
            continue
        skip, branch, ambiguous = split
        g.centred = _centred(skip) and _centred(branch)
        end = _branch_end(branch)
        if isinstance(end, str):
            plan.notes.append(f"residual connection {g.label}: its branch is not scaled ({end}); the signal's second moment may grow over depth")
            continue
        e, factor, through_activation = end
        ratio = (per_block - 1.0) / factor
        why = (f"end of the residual branch summed at {g.node.name!r} (skip: {skip.name!r}): its output's second moment is "
               f"{per_block - 1.0:.6g} x the skip's, so that the sum is {per_block:.6g} x the skip's")
        if factor != 1.0:
            why += f" (the noise or scaling after it multiplies the second moment by {factor:.6g})"
        if ambiguous:
            why += "; both operands have as many layers of their own, the first is taken as the skip"
        # a branch that ends in an activation is not zero-mean; with a skip that is not either, the sum's
        # second moment has a cross term 2 E[skip branch] the theory does not give: measure it instead
        needs_data = through_activation and not _centred(skip)
        if needs_data:
            why = (f"end of the residual branch summed at {g.node.name!r} (skip: {skip.name!r}): scaled so that the measured "
                   f"sum's second moment, cross term included, is {per_block:.6g} x the skip's")
        ends[e.index] = _End(skip, ratio, why, g, branch, needs_data, per_block - 1.0)
    if ends:
        plan.notes.append(f"{len(ends)} residual connection(s), {L} on the longest path: each branch's last layer is scaled "
                          f"so that the signal's second moment grows by {per_block:.6g} per connection, "
                          f"residual_growth = {growth:g} over the longest path")
    return ends


def _walked(g: GNode, f: _Feed, default_noise) -> WalkedLayer:
    noise = f.noise if f.noise is not None else (default_noise if f.source.kind != "input" else None)
    problem = "it is a lazy module whose weight is not materialised yet; run one forward pass first" if _is_lazy(g.module) else None
    return WalkedLayer(g.node.target, g.module, None if problem else _fan_in(g.module), noise, f.act, f.noise_src,
                       f.act_src, f.order, f.act is None, problem)


def _labels(w: WalkedLayer) -> tuple[str, str]:
    return (repr(w.noise) if w.noise is not None else "none"), (getattr(w.activation, "name", "") if w.activation is not None else "")


def plan_graph(nodes: list[GNode], model: nn.Module, default_noise, growth: float, analyse, direct=()) -> Plan:
    """The plan for every weight and normalisation layer of the graph (``analyse`` is init's per-layer rule)."""
    plan = Plan()
    ends = residual_ends(nodes, growth, plan)
    calls = count_calls(nodes)
    tied = shared_parameters(model)
    for g in nodes:
        if g.kind not in ("weight", "norm"):
            continue
        name = g.node.target
        if id(g.module) in tied:
            others = ", ".join(repr(o) for o in tied[id(g.module)])
            plan.problems.append((name, f"it shares a parameter with {others} (tied weights): one initialisation "
                                        "cannot suit every place the shared tensor is used, and the report would "
                                        "not describe the tensor the model holds", True))
            continue
        if calls[id(g.module)] > 1:
            plan.problems.append((name, f"it is called {calls[id(g.module)]} times in forward (shared weights): one "
                                        "initialisation cannot suit every place it is used", True))
            continue
        end = ends.get(g.index)
        skip, ratio, end_why = (end.skip, end.ratio, end.why) if end else (None, 1.0, "")
        if g.kind == "norm":
            if getattr(g.module, "weight", None) is None:
                plan.notes.append(f"{g.label} has no affine parameters: nothing to set (it normalises its input)")
                continue
            reason = (f"it is {g.label}, a normalisation layer ({type(g.module).__name__}) that critical_init_ does not set "
                      "analytically: it is not covered by the mean-field theory of the critical initialisation (it rescales "
                      "the signal by statistics of the signal itself, so its output scale is set by its weight, gamma)")
            why = "normalisation layer: its weight (gamma) calibrated on data"
            plan.steps.append(Step(g, "calibrated", ref=skip or _norm_anchor(g), ratio=ratio, reason=reason, end=end,
                                   why=f"{why}; {end_why}" if end_why else why))
            continue
        f = _feed(g)
        w = _walked(g, f, default_noise)
        res = analyse(w) if f.problem is None else _Problem(f.problem)
        if not isinstance(res, _Problem) and end is not None and end.needs_data:
            res = _Problem(f"it ends the residual branch summed at {end.add.node.name!r} through an activation, so the branch "
                           "is not zero-mean, nor is the skip: the sum's second moment has a cross term that the mean-field "
                           "theory of the critical initialisation does not give")
        if isinstance(res, _Problem):
            fatal = w.problem is not None or "no critical" in res.reason
            if fatal:
                plan.problems.append((name, res.reason, True))
                continue
            why = f"calibrated on data: {short_reason(res.reason).replace('it is fed by', 'fed by', 1)}"
            noise, act = _labels(w)
            act = act or "-"
            plan.steps.append(Step(g, "calibrated", ref=skip or anchor(g), ratio=ratio, noise=noise, activation=act,
                                   reason=res.reason, end=end, why=f"{why}; {end_why}" if end_why else why))
            continue
        sw2, noise, act, sb2, rule_why = res
        if w.activation is None and f.source.kind != "input":
            act = "linear"  # a linear map of a pre-activation: sigma_w2 = 1 / mu2 keeps its second moment
        why = "; ".join(x for x in (rule_why, end_why) if x)
        plan.steps.append(Step(g, "analytic", sigma_w2=sw2 * ratio, sigma_b2=sb2 * ratio, noise=noise, activation=act,
                               why=why))
    _left_alone(nodes, model, plan)
    for target in direct:
        plan.skipped.append((target, "a parameter or buffer used directly in forward (not through a module): left as it is; "
                                     "the layers after its use are calibrated"))
    return plan


def _left_alone(nodes: list[GNode], model: nn.Module, plan: Plan) -> None:
    """Parameters of unknown modules, of modules inside them and of modules never called: reported as unchanged."""
    called = {id(g.module): g for g in nodes if g.module is not None}
    opaque = [(qual, g.module) for g in nodes if g.kind == "other" and g.module is not None for qual in [g.node.target]]
    for qual, m in opaque:
        if any(True for _ in m.parameters(recurse=False)):
            plan.skipped.append((qual, f"{type(m).__name__} is a module the theory does not cover; its parameters are left "
                                       "as they are (the layers after it are calibrated)"))
    inside = {id(sub): qual for qual, m in opaque for _, sub in m.named_modules() if sub is not m}
    for qual, m in model.named_modules():
        if id(m) in called or not any(True for _ in m.parameters(recurse=False)):
            continue
        if id(m) in inside:
            plan.skipped.append((qual, f"inside {inside[id(m)]!r}, which critical_init_ treats as one module it does not analyse"))
        elif not list(m.children()):
            plan.skipped.append((qual, "it is never called in the model's forward pass"))
