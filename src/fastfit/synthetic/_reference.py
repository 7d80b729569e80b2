"""Reference-study generators: temperature, relaxation, GEIS and pressure series."""
from __future__ import annotations

import numpy as np

from ._basic import PAPER_CIRCUIT, add_noise, log_freq

# =====================================================================================
# Reference-study generators (issue 10, analysis layer)
# Na|Na3.4Zr2Si2.4P0.6O12 (NZSP0.4) cells after Ortmann et al., Adv. Energy Mater. 2023
# ("Kinetics and pore formation of the sodium metal anode on NASICON-type
# Na3.4Zr2Si2.4P0.6O12 for sodium solid-state batteries").
# =====================================================================================
#
# Values taken from the study: electrode diameter 6 mm (A = 0.283 cm²), pellet ~2 mm;
# grain boundary (GB) apex 1.57 MHz with 4.5 nF cm⁻² (-> 22.5 Ω cm² at 25 °C); interface
# apex 88 kHz with 34 nF cm⁻² (-> 53.2 Ω cm²), interface resistance falling from 53 to
# 7 Ω cm² with stack pressure; activation energies 0.26 eV (bulk), 0.36 eV (GB), 0.37 eV
# (interface) between -40 and 40 °C; total conductivity of NZSP0.4 5.5 mS cm⁻¹ at 25 °C.
#
# Values chosen here (not in the study), stated so that users know what is invented:
# * bulk: 14.0 Ω cm² at 25 °C, so that bulk + GB = 36.5 Ω cm² over 0.2 cm gives the
#   reported 5.5 mS cm⁻¹ total conductivity (bulk sigma = 14.3 mS cm⁻¹);
# * bulk capacitance 3.5e-10 F cm⁻², which puts the bulk apex at 2.5 MHz (-40 °C) and
#   4.0 MHz (-30 °C), i.e. inside a 7 MHz sweep.  A dielectric bulk (eps_r ~ 30, 1.3e-11
#   F cm⁻²) would keep the bulk arc above 50 MHz at every temperature of the study, so
#   this value is an *effective* one that makes the reported circuit switch observable;
# * CPE exponents: bulk 0.95, GB 0.90, interface 0.85; effective capacitances (Hsu–
#   Mansfeld C_eff) independent of temperature, so Q = C_eff^n R^(n-1) follows R(T);
# * all resistances follow the "sigma_T" law R(T) = R(T_ref) (T/T_ref) exp[(Ea/k_B)
#   (1/T - 1/T_ref)], T_ref = 25 °C;
# * interface capacitance from a contact-area rule C_int = 34 nF cm⁻² (53.2 Ω cm² /
#   R_int,ref)^0.5 (more contact: lower R, higher C, as in the study's Fig. 4b), with
#   R_int,ref the 25 °C value; it does not change with temperature.
#
# Which circuit at which temperature: the bulk relaxation frequency 1/(2 pi R_b C_b)
# *rises* with temperature (R_b falls, C_b is a geometric capacitance), so the bulk arc
# enters a 7 MHz window at LOW temperature.  The study's Experimental section reads the
# other way round ("spectra recorded above -30 °C were fitted with an additional RQ
# element as the SE bulk contribution shifts into the measured frequency range"); we take
# the physics and the -30 °C threshold: at T <= -30 °C the bulk is an R‖CPE,
# "p(R0,CPE0)-p(R1,CPE1)-p(R2,CPE2)"; above it the bulk is a plain resistor,
# "R0-p(R1,CPE1)-p(R2,CPE2)".  R0 = bulk, R1 = grain boundary, R2 = interface.

_K_B_EV = 8.617333262e-5

REFERENCE = {
    "area_cm2": float(np.pi * 0.3**2),
    "thickness_cm": 0.2,
    "T_ref_C": 25.0,
    "Ea_eV": {"bulk": 0.26, "grain_boundary": 0.36, "interface": 0.37},
    "R_ohm_cm2": {"bulk": 14.0,
                  "grain_boundary": 1.0 / (2 * np.pi * 1.57e6 * 4.5e-9),
                  "interface": 1.0 / (2 * np.pi * 88e3 * 34e-9)},
    "C_F_cm2": {"bulk": 3.5e-10, "grain_boundary": 4.5e-9, "interface": 34e-9},
    "n": {"bulk": 0.95, "grain_boundary": 0.90, "interface": 0.85},
    "contact_exponent": 0.5,
    "bulk_arc_max_C": -30.0,
}
PROCESSES = ("bulk", "grain_boundary", "interface")
CIRCUIT_BULK_ARC = "p(R0,CPE0)-p(R1,CPE1)-p(R2,CPE2)"
CIRCUIT_BULK_R = PAPER_CIRCUIT

__all__ = ["REFERENCE", "PROCESSES", "CIRCUIT_BULK_ARC", "CIRCUIT_BULK_R", "reference_state",
            "reference_temperature_series", "reference_relaxation_series",
            "reference_geis_series", "reference_pressure_series"]


def _arrhenius_factor(T_K, Ea_eV, T_ref_K):
    """R(T)/R(T_ref) for the sigma_T law."""
    return (T_K / T_ref_K) * np.exp(Ea_eV / _K_B_EV * (1.0 / T_K - 1.0 / T_ref_K))


def reference_state(T_C, R_int_ref_ohm_cm2=None, bulk_arc: bool | None = None):
    """Equivalent-circuit state of the reference cell at temperature(s) ``T_C`` (°C).

    Parameters
    ----------
    T_C : float or (N,) array, °C
    R_int_ref_ohm_cm2 : float or (N,) array, Ω cm², optional — interface resistance at
        25 °C (default: the study's 53.2 Ω cm²); the interface capacitance follows the
        contact-area rule in the block comment
    bulk_arc : bool, optional — force the bulk R‖CPE on/off (default: T <= -30 °C)

    Returns
    -------
    dict with (N,) arrays: ``R_ohm``, ``C_eff_F``, ``Q``, ``n``, ``f_apex_Hz`` (dicts per
    process, absolute units for the 0.283 cm² electrode), ``bulk_arc`` (bool per T),
    ``T_K``.
    """
    ref = REFERENCE
    A = ref["area_cm2"]
    T_C = np.atleast_1d(np.asarray(T_C, np.float64))
    T_K = T_C + 273.15
    T_ref = ref["T_ref_C"] + 273.15
    R_int_ref = ref["R_ohm_cm2"]["interface"] if R_int_ref_ohm_cm2 is None else R_int_ref_ohm_cm2
    R_int_ref = np.broadcast_to(np.asarray(R_int_ref, np.float64), T_K.shape)
    C_int = ref["C_F_cm2"]["interface"] * (ref["R_ohm_cm2"]["interface"] / R_int_ref) ** \
        ref["contact_exponent"]
    asr25 = {"bulk": np.full_like(T_K, ref["R_ohm_cm2"]["bulk"]),
             "grain_boundary": np.full_like(T_K, ref["R_ohm_cm2"]["grain_boundary"]),
             "interface": R_int_ref}
    c_areal = {"bulk": np.full_like(T_K, ref["C_F_cm2"]["bulk"]),
               "grain_boundary": np.full_like(T_K, ref["C_F_cm2"]["grain_boundary"]),
               "interface": C_int}
    out = {"T_K": T_K, "R_ohm": {}, "C_eff_F": {}, "Q": {}, "n": {}, "f_apex_Hz": {}}
    for p in PROCESSES:
        R = asr25[p] * _arrhenius_factor(T_K, ref["Ea_eV"][p], T_ref) / A
        C = c_areal[p] * A
        nn = np.full_like(T_K, ref["n"][p])
        out["R_ohm"][p] = R
        out["C_eff_F"][p] = C
        out["n"][p] = nn
        out["Q"][p] = C**nn * R ** (nn - 1.0)             # inverse of C = (Q R^(1-n))^(1/n)
        out["f_apex_Hz"][p] = 1.0 / (2 * np.pi * R * C)
    arc = T_C <= ref["bulk_arc_max_C"] if bulk_arc is None else np.full(T_K.shape, bool(bulk_arc))
    out["bulk_arc"] = arc
    return out


def _rcpe(f, R, Q, n):
    jw = 1j * 2 * np.pi * f[None, :]
    return R[:, None] / (1.0 + R[:, None] * Q[:, None] * jw ** n[:, None])


def _state_impedance(f, s):
    """(N, F) impedance, circuit strings and parameter vectors of a reference state."""
    b, g, i = PROCESSES
    Zb = np.where(s["bulk_arc"][:, None], _rcpe(f, s["R_ohm"][b], s["Q"][b], s["n"][b]),
                  s["R_ohm"][b][:, None] + 0j)
    Z = Zb + _rcpe(f, s["R_ohm"][g], s["Q"][g], s["n"][g]) + \
        _rcpe(f, s["R_ohm"][i], s["Q"][i], s["n"][i])
    circuits, params = [], []
    for k, arc in enumerate(s["bulk_arc"]):
        tail = [s["R_ohm"][g][k], s["Q"][g][k], s["n"][g][k],
                s["R_ohm"][i][k], s["Q"][i][k], s["n"][i][k]]
        if arc:
            circuits.append(CIRCUIT_BULK_ARC)
            params.append(np.array([s["R_ohm"][b][k], s["Q"][b][k], s["n"][b][k]] + tail))
        else:
            circuits.append(CIRCUIT_BULK_R)
            params.append(np.array([s["R_ohm"][b][k]] + tail))
    return Z, circuits, params


def _truth(s, circuits, params, noise, **extra):
    t = {"T_K": s["T_K"], "T_C": s["T_K"] - 273.15, "circuit": circuits, "params": params,
         "R_ohm": s["R_ohm"], "C_eff_F": s["C_eff_F"], "f_apex_Hz": s["f_apex_Hz"],
         "n": s["n"], "bulk_arc": s["bulk_arc"], "Ea_eV": dict(REFERENCE["Ea_eV"]),
         "area_cm2": REFERENCE["area_cm2"], "thickness_cm": REFERENCE["thickness_cm"],
         "T_ref_C": REFERENCE["T_ref_C"], "law": "sigma_T", "noise": noise}
    t.update(extra)
    return t


def reference_temperature_series(seed: int = 0, noise: float = 0.005, T_C=None, *,
                                 bulk_arc: str = "switch", R_int_ref_ohm_cm2=None, freq=None):
    """Spectra of the reference cell from -40 to 40 °C (10 °C steps unless ``T_C``).

    Parameters
    ----------
    seed : int; noise : float — proportional complex noise (0.005 = 0.5 %)
    T_C : (N,) °C, optional
    bulk_arc : {"switch", "always", "never"}
        "switch" (default): the bulk is an R‖CPE at T <= -30 °C and a plain resistor
        above, and each spectrum is generated *exactly* by the circuit named in
        ``truth["circuit"]`` (so fitting that circuit is unbiased).  "always": the bulk
        R‖CPE is present at every temperature (physically complete; a plain-resistor fit
        above -30 °C is then slightly biased).  "never": a plain resistor everywhere.
    R_int_ref_ohm_cm2 : float, Ω cm², optional — interface resistance at 25 °C
    freq : (F,) Hz, optional — default 7 MHz to 1 Hz, 10 per decade (the study's range)

    Returns
    -------
    freq : (F,) Hz
    Z : (N, F) complex128, Ω
    truth : dict — T_C, T_K (N,); circuit (list of N str); params (list of N arrays in
        Circuit.param_names order); R_ohm, C_eff_F, f_apex_Hz, n (dicts process -> (N,));
        bulk_arc (N,) bool; Ea_eV (dict); area_cm2, thickness_cm, T_ref_C, law, noise
    """
    rng = np.random.default_rng(seed)
    f = log_freq(7e6, 1.0) if freq is None else np.asarray(freq, np.float64)
    T_C = np.arange(-40.0, 41.0, 10.0) if T_C is None else np.asarray(T_C, np.float64)
    if bulk_arc not in ("switch", "always", "never"):
        raise ValueError(f"bulk_arc must be 'switch', 'always' or 'never'; got {bulk_arc!r}")
    force = None if bulk_arc == "switch" else bulk_arc == "always"
    s = reference_state(T_C, R_int_ref_ohm_cm2, bulk_arc=force)
    Z, circuits, params = _state_impedance(f, s)
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    return f, Z, _truth(s, circuits, params, noise)


def _series(time, T_C, R_int_ref, noise, rng, freq, f_default, **extra):
    f = f_default if freq is None else np.asarray(freq, np.float64)
    s = reference_state(T_C, R_int_ref, bulk_arc=False)
    Z, circuits, params = _state_impedance(f, s)
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    ref = reference_state(np.full_like(T_C, REFERENCE["T_ref_C"]), R_int_ref, bulk_arc=False)
    truth = _truth(s, circuits[0], np.stack(params), noise, time=time,
                   R_ref_ohm=ref["R_ohm"], R_int_ref_ohm_cm2=np.asarray(R_int_ref), **extra)
    return f, Z, truth


def reference_relaxation_series(n: int = 48, seed: int = 0, noise: float = 0.005, *,
                                dt_s: float = 420.0, T_mean_C: float = 25.0,
                                wobble_C: float = 2.0, wobble_period_s: float = 7200.0,
                                R_int_start: float = 40.0, R_int_end: float = 10.0,
                                tau_s: float = 5400.0, log_dt_s: float = 60.0,
                                log_noise_C: float = 0.0, log_resolution_C: float = 0.0,
                                freq=None):
    """Interface relaxation at room temperature with a wobbling glovebox temperature.

    One spectrum every ``dt_s`` (the study: 7 min after dissolution, 5 min after
    assembly), 7 MHz - 100 Hz; interface resistance at 25 °C relaxing as
    ``R_end + (R_start - R_end) exp(-t / tau)`` (Ω cm²; set ``R_int_start == R_int_end``
    for a constant interface); cell temperature ``T_mean + wobble sin(2 pi t / period)``;
    a thermocouple log every ``log_dt_s`` (the study: once a minute) covering all
    spectra, with optional Gaussian noise and rounding to ``log_resolution_C``.
    Circuit R0-p(R1,CPE1)-p(R2,CPE2) (bulk above 7 MHz at room temperature).  Each
    spectrum is generated at the temperature of its start time ``truth["time"]``.

    Returns
    -------
    freq : (F,) Hz; Z : (n, F) complex128, Ω
    truth : dict — as :func:`reference_temperature_series` plus time (n,) s,
        params (n, 7), circuit (str), R_ref_ohm (dict of (n,) resistances at 25 °C),
        R_int_ref_ohm_cm2 (n,), log_time (M,) s, log_T_C (M,) °C
    """
    rng = np.random.default_rng(seed)
    time = np.arange(n) * float(dt_s)
    T_C = T_mean_C + wobble_C * np.sin(2 * np.pi * time / wobble_period_s)
    R_ref = R_int_end + (R_int_start - R_int_end) * np.exp(-time / tau_s)
    log_time = np.arange(-log_dt_s, time[-1] + 2 * log_dt_s, log_dt_s)
    log_T = T_mean_C + wobble_C * np.sin(2 * np.pi * log_time / wobble_period_s)
    f, Z, truth = _series(time, T_C, R_ref, noise, rng, freq, log_freq(7e6, 100.0))
    if log_noise_C > 0:
        log_T = log_T + log_noise_C * rng.standard_normal(log_T.shape)
    if log_resolution_C > 0:
        log_T = np.round(log_T / log_resolution_C) * log_resolution_C
    truth.update(log_time=log_time, log_T_C=log_T)
    return f, Z, truth


def reference_geis_series(n: int = 71, seed: int = 0, noise: float = 0.005, *,
                          dt_s: float = 600.0, R_int_start: float = 5.0,
                          R_int_end: float = 60.0, t_onset_s: float = 300 * 60.0,
                          T_C: float = 25.0, freq=None):
    """Anodic dissolution (GEIS) series at 25 °C: interface resistance growing.

    As in the study's Fig. 6: resistances constant at first, then the interface
    resistance (Ω cm², at 25 °C) rises strongly after ``t_onset_s``:
    ``R = R_start (R_end/R_start)^(s²)``, s = (t - t_onset)/(t_last - t_onset) clipped to
    [0, 1], while its capacitance falls (contact-area rule).  7 MHz - 100 Hz.

    Returns freq, Z (n, F), truth (as :func:`reference_relaxation_series`, without the
    thermocouple log).
    """
    rng = np.random.default_rng(seed)
    time = np.arange(n) * float(dt_s)
    span = max(time[-1] - t_onset_s, 1e-9)
    s = np.clip((time - t_onset_s) / span, 0.0, 1.0)
    R_ref = R_int_start * (R_int_end / R_int_start) ** (s * s)
    return _series(time, np.full(n, float(T_C)), R_ref, noise, rng, freq, log_freq(7e6, 100.0))


def reference_pressure_series(force_N=None, seed: int = 0, noise: float = 0.005, *, freq=None):
    """Interface resistance falling with stack pressure (study's Fig. 4), 25 °C.

    ``R_int = 53.2 Ω cm² (F / 1 N)^(-b)`` with b set so that 215 N gives 7 Ω cm²;
    default forces 1-215 N; 7 MHz - 10 Hz.  Returns freq, Z, truth (``time`` holds the
    forces in N).
    """
    rng = np.random.default_rng(seed)
    F = np.array([1, 5, 10, 20, 40, 70, 100, 150, 215.0]) if force_N is None else \
        np.asarray(force_N, np.float64)
    R0 = REFERENCE["R_ohm_cm2"]["interface"]
    b = np.log(R0 / 7.0) / np.log(215.0)
    R_ref = R0 * F ** (-b)
    f, Z, truth = _series(F, np.full(F.shape, REFERENCE["T_ref_C"]), R_ref, noise, rng, freq,
                          log_freq(7e6, 10.0))
    truth["force_N"] = F
    return f, Z, truth
