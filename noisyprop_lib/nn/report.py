"""What :func:`~noisyprop_lib.nn.critical_init_` did, layer by layer: :class:`InitRow` and :class:`InitReport`."""
from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["InitReport", "InitRow"]

#: the rules by which a layer's parameters were set
RULES = ("analytic", "calibrated", "unchanged")


class InitRow(NamedTuple):
    """One initialised layer.

    The first six fields are those of release 0.1 (a row unpacks as before);
    ``rule`` says how the layer was set and ``why`` explains it.

    Attributes
    ----------
    name, layer_type : str
        The layer's name in ``model.named_modules()`` and its class.
    fan_in : int or None
        The weight's fan-in (None for a normalisation layer).
    noise, activation : str
        The noise and the activation read between the layer and its source.
    sigma_w2 : float or None
        The weight variance drawn, :math:`W\\sim\\mathcal N(0,\\sigma_w^2/N_\\text{in})` (None for a
        normalisation layer).
    rule : {"analytic", "calibrated"}
        ``"analytic"``: sigma_w2 from the mean-field theory; ``"calibrated"``: the scale
        was measured on a batch of inputs, with the noise active, so that the layer's
        output second moment meets its target.
    why : str
        The reason for the rule and, for a residual branch, its scaling.
    gain : float or None
        For a calibrated normalisation layer, the value its weight (gamma) was set to.
    sigma_b2 : float or None
        The bias variance drawn, :math:`b\\sim\\mathcal N(0,\\sigma_b^2)`: 0 for rectifiers, the small
        bias of :func:`~noisyprop_lib.critical_point` for smooth activations (None where not analytic).
    """

    name: str
    layer_type: str
    fan_in: Optional[int]
    noise: str
    activation: str
    sigma_w2: Optional[float]
    rule: str = "analytic"
    why: str = ""
    gain: Optional[float] = None
    sigma_b2: Optional[float] = None


_HEADERS = ("layer", "type", "rule", "fan_in", "noise", "activation", "sigma_w2 / gain")


class InitReport(list):
    """What :func:`critical_init_` did: a list of :class:`InitRow`, one per initialised layer.

    ``skipped`` lists ``(layer name, reason)`` for the layers with parameters
    that were left unchanged; ``notes`` explains the model's structure as read
    (residual connections and how their branches were scaled, modules the
    theory does not cover); ``second_moments`` holds, after a calibration, the
    measured second moment :math:`E[x^2]` of every weight, normalisation and
    residual-sum output, in forward order, with the noise active.
    ``str(report)`` is an aligned text table; in a notebook the report renders
    as a markdown table.
    """

    def __init__(self, rows=(), skipped=(), notes=(), second_moments=None):
        super().__init__(rows)
        self.skipped: list[tuple[str, str]] = list(skipped)
        self.notes: list[str] = list(notes)
        self.second_moments: dict[str, float] = dict(second_moments or {})

    @property
    def sigma_w2(self) -> dict[str, float]:
        """``{layer name: sigma_w2}`` for the weight layers."""
        return {r.name: r.sigma_w2 for r in self if r.sigma_w2 is not None}

    @property
    def sigma_b2(self) -> dict[str, float]:
        """``{layer name: sigma_b2}`` for the analytically drawn weight layers."""
        return {r.name: r.sigma_b2 for r in self if r.sigma_b2 is not None}

    @property
    def rules(self) -> dict[str, str]:
        """``{layer name: rule}`` for every layer in the report, the unchanged ones included."""
        out = {r.name: r.rule for r in self}
        out.update({name: "unchanged" for name, _ in self.skipped})
        return out

    def _cells(self) -> list[tuple[str, ...]]:
        def value(r):
            if r.sigma_w2 is None:
                return f"gamma={r.gain:.6g}" if r.gain is not None else ""
            return f"{r.sigma_w2:.6g}" + (f" (sigma_b2={r.sigma_b2:.3g})" if r.sigma_b2 else "")

        return [(r.name, r.layer_type, r.rule, "" if r.fan_in is None else str(r.fan_in), r.noise, r.activation, value(r))
                for r in self]

    def _lines_after(self) -> list[str]:
        out = [f"skipped {name}: {reason}" for name, reason in self.skipped]
        out += [f"note: {n}" for n in self.notes]
        out += [f"why {r.name}: {r.why}" for r in self if r.why]
        return out

    def __str__(self) -> str:
        rows = [_HEADERS] + self._cells()
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
        right = {3, 6}

        def line(r):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

        return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in rows[1:]] + self._lines_after())

    def _repr_markdown_(self) -> str:
        def esc(s):
            return s.replace("|", "\\|")

        out = ["| " + " | ".join(_HEADERS) + " |", "|" + "|".join(["---", "---", "---", "---:", "---", "---", "---:"]) + "|"]
        out += ["| " + " | ".join(f"`{esc(c)}`" if i in (0, 4) and c else esc(c) for i, c in enumerate(r)) + " |" for r in self._cells()]
        for name, reason in self.skipped:
            out.append(f"\n*skipped* `{name}`: {esc(reason)}")
        out += [f"\n*note*: {esc(n)}" for n in self.notes]
        out += [f"\n*why* `{r.name}`: {esc(r.why)}" for r in self if r.why]
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"InitReport({len(self)} layers, {len(self.skipped)} skipped)"
