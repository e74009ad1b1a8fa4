"""Ballast: run hybrid AI + Bitcoin-mining campuses behind one grid connection.

Sign convention (everywhere): power drawn by the site from the grid is positive (import),
export is negative. Loads are positive. Time is UTC inside.
"""

__version__ = "0.1.0"
