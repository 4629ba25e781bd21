"""`lowdim svd` writes its three files as one set (issue 9 §7): unique temporaries (two jobs
writing the same prefix never collide), then all renamed; a failed rename leaves the previous
set intact and removes only temporaries.

Usage: python3 cli_svd_atomic.py LOWDIM_CLI TMPDIR
"""
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np

CLI = sys.argv[1] if len(sys.argv) > 1 else "lowdim"
TMP = sys.argv[2] if len(sys.argv) > 2 else "."


def svd_command(matrix, prefix, seed):
    return [CLI, "svd", "--input", matrix, "--rank", "3", "--method", "rsvd", "--seed", str(seed), "--out", prefix]


class SvdAtomicWrites(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.join(TMP, self.id().rsplit(".", 1)[-1])
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.matrix = os.path.join(self.dir, "a.npy")
        np.save(self.matrix, np.random.default_rng(3).standard_normal((60, 20)))
        self.prefix = os.path.join(self.dir, "f")
        self.names = [self.prefix + s for s in ("_U.npy", "_S.npy", "_Vt.npy")]

    def leftovers(self):
        keep = {os.path.basename(p) for p in self.names + [self.matrix]}
        return sorted(set(os.listdir(self.dir)) - keep)

    def test_concurrent_writers_of_one_prefix(self):
        # Several jobs at once, same prefix, several rounds: every one must succeed (a fixed
        # temporary name made one of them fail with "cannot rename ... .partial").
        for _ in range(4):
            jobs = [subprocess.Popen(svd_command(self.matrix, self.prefix, 5), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True) for _ in range(6)]
            for job in jobs:
                out, _ = job.communicate()
                self.assertEqual(job.returncode, 0, out)
        u, s, vt = (np.load(p) for p in self.names)
        self.assertEqual((u.shape, s.shape, vt.shape), ((60, 3), (3,), (3, 20)))
        self.assertEqual(self.leftovers(), [])

    def test_failed_rename_keeps_previous_set(self):
        subprocess.run(svd_command(self.matrix, self.prefix, 1), check=True, capture_output=True)
        before = [open(p, "rb").read() for p in self.names[:2]]
        # Vt's target becomes a non-empty directory: its rename fails after U's and S's.
        os.remove(self.names[2])
        os.makedirs(self.names[2])
        open(os.path.join(self.names[2], "keep"), "w").close()
        run = subprocess.run(svd_command(self.matrix, self.prefix, 2), capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("_Vt.npy", run.stdout + run.stderr)
        after = [open(p, "rb").read() for p in self.names[:2]]
        self.assertEqual(after, before, "the previous U and S must be left as they were")
        self.assertTrue(os.path.isdir(self.names[2]))
        self.assertEqual(self.leftovers(), [], "only temporaries may be removed, and all of them")

    def test_mode_follows_umask(self):
        old = os.umask(0o027)
        try:
            subprocess.run(svd_command(self.matrix, self.prefix, 1), check=True, capture_output=True)
        finally:
            os.umask(old)
        for p in self.names:
            self.assertEqual(os.stat(p).st_mode & 0o777, 0o640, p)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
