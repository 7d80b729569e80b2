"""Analysis of fitted parameters: geometry, effective capacitance and apex frequency of
R‖CPE arcs (with delta-method errors), process assignment by capacitance, temperature
correction of time series, and Arrhenius fits.  ``effective_capacitance``,
``apex_frequency`` (``samples=True``) and ``arrhenius`` (``sigma_samples=``) also take
bootstrap samples (:func:`fastfit.bootstrap`) and return percentile intervals.

Plain numpy (no JAX, no scipy).  Units: Ω, Ω cm², F, F cm⁻², Hz, s, K inside (°C at the
edges where named ``_C``), cm and cm², eV.

>>> from fastfit import analysis as fa
>>> round(float(fa.apex_frequency(22.5 / 0.2827, 4.5e-9 * 0.2827, 1.0)) / 1e6, 2)
1.57
"""
from __future__ import annotations

from ._common import K_B_EV
from .arrhenius import LAWS, ArrheniusResult, arrhenius
from .assign import DEFAULT_RANGES, assign_process
from ._samples import SampleInterval, sample_interval
from .capacitance import (RCPEDerived, apex_frequency, effective_capacitance, rcpe_derived,
                          rcpe_from_fit, rcpe_from_params, relaxation_time)
from .geometry import (area_from_diameter, areal_capacitance, conductivity, from_area_specific,
                       resistance_from_conductivity, specific_capacitance, to_area_specific)
from .temperature import (CorrectedResistance, TemperatureLog, correct_to_reference,
                          interpolate_temperature, read_thermocouple_csv,
                          temperature_from_resistance, to_celsius, to_kelvin)

__all__ = [
    "K_B_EV", "LAWS",
    # geometry
    "area_from_diameter", "to_area_specific", "from_area_specific", "areal_capacitance",
    "specific_capacitance", "conductivity", "resistance_from_conductivity",
    # R||CPE
    "effective_capacitance", "apex_frequency", "relaxation_time", "RCPEDerived",
    "rcpe_derived", "rcpe_from_params", "rcpe_from_fit",
    # bootstrap samples -> percentile intervals
    "SampleInterval", "sample_interval",
    # assignment
    "DEFAULT_RANGES", "assign_process",
    # temperature
    "TemperatureLog", "read_thermocouple_csv", "interpolate_temperature",
    "CorrectedResistance", "correct_to_reference", "temperature_from_resistance",
    "to_kelvin", "to_celsius",
    # Arrhenius
    "ArrheniusResult", "arrhenius",
]
