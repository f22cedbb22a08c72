// HDF5ShimTests: the CShims wrappers give working libhdf5 constants: a real file is written with
// them, read back, and a bad path fails cleanly with errors silenced.

import CHDF5
import CShims
import Foundation
import Testing

@Suite struct HDF5ShimTests {
    @Test func writesAndReadsAFloatDataset() throws {
        rs_h5_silence_errors()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cshims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.h5").path

        let file = H5Fcreate(path, rs_h5f_acc_trunc(), rs_h5p_default(), rs_h5p_default())
        #expect(file >= 0)
        var dims: [hsize_t] = [2, 3]
        let space = H5Screate_simple(2, &dims, nil)
        let set = H5Dcreate2(file, "w", rs_h5t_native_float(), space, rs_h5p_default(), rs_h5p_default(), rs_h5p_default())
        let values: [Float] = [1, 2, 3, 4, 5, 6.5]
        #expect(H5Dwrite(set, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), values) >= 0)
        H5Dclose(set); H5Sclose(space); H5Fclose(file)

        let reopened = H5Fopen(path, rs_h5f_acc_rdonly(), rs_h5p_default())
        #expect(reopened >= 0)
        let readSet = H5Dopen2(reopened, "w", rs_h5p_default())
        var back = [Float](repeating: 0, count: 6)
        #expect(H5Dread(readSet, rs_h5t_native_float(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), &back) >= 0)
        #expect(back == values)
        // Reading the same data as double converts through the other native type.
        var asDouble = [Double](repeating: 0, count: 6)
        #expect(H5Dread(readSet, rs_h5t_native_double(), rs_h5s_all(), rs_h5s_all(), rs_h5p_default(), &asDouble) >= 0)
        #expect(asDouble == values.map(Double.init))
        H5Dclose(readSet); H5Fclose(reopened)
    }

    @Test func missingFileFailsWithoutPrinting() {
        rs_h5_silence_errors()
        #expect(H5Fopen("/nonexistent/revserve/x.h5", rs_h5f_acc_rdonly(), rs_h5p_default()) < 0)
    }
}
