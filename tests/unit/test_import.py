import subprocess
import sys


def test_importing_vigil_engine_loads_no_backend_and_probes_nothing():
    code = (
        "import sys, vigil, vigil.engine, vigil.engine.developer_tools, vigil.daemon, vigil.sources, vigil.sinks\n"
        "heavy = [m for m in ('onnxruntime', 'tensorrt', 'torch', 'pycuda', 'supervision') if m in sys.modules]\n"
        "from vigil.engine._private import environment\n"
        "probed = environment.current_environment.cache_info().currsize\n"
        "print(heavy, probed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] 0"
