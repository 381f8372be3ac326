"""Writes every case of Tests/Conformance: each module below has a `cases()` that writes its own."""
import importlib
import pkgutil
import os
import sys

import lib

here = os.path.dirname(os.path.abspath(__file__))
names = sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("cases_"))
selected = [n for n in names if len(sys.argv) < 2 or n in sys.argv[1:]]
lib.run_modules([importlib.import_module(n) for n in selected])
print(f"wrote cases of {', '.join(selected)} into {os.path.normpath(lib.OUT)}")
