package ferry;

import org.apache.flink.api.common.state.ListState;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;

/**
 * The logic of the job's source, shared by the Flink 1.x and 2.x {@code FerrySource} classes
 * (which differ only in the package of the legacy source interface and in how they learn their
 * subtask index).
 *
 * <p>The source emits consecutive sequence numbers split into "lanes": lane {@code l} of
 * {@code L} emits {@code offset * L + l} for offset 0, 1, 2, … Each lane's offset is kept in
 * operator ListState (split-distributed), so a restored job continues the sequence where the
 * snapshot left it. Each run emits {@code perRun} records in total, then idles until cancelled.
 */
public final class SourceCore implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final int LANE_SHIFT = 40;

    private final long perRun;
    private final int totalLanes;
    private transient int[] lanes;
    private transient long[] offsets;
    private transient int subtask;
    private transient long quota;
    private transient volatile boolean done;
    private transient boolean doneRecorded;

    public SourceCore(long perRun, int totalLanes) {
        this.perRun = perRun;
        this.totalLanes = totalLanes;
    }

    /** Reads restored lanes from {@code state} (if any) and computes this run's quota. */
    public void init(ListState<Long> state, boolean restored, int index, int parallelism) throws Exception {
        subtask = index;
        List<Long> entries = new ArrayList<>();
        if (restored) {
            Iterable<Long> it = state.get();
            if (it != null) {
                for (Long e : it) {
                    entries.add(e);
                }
            }
        }
        if (entries.isEmpty() && !restored) {
            entries.add(((long) index) << LANE_SHIFT);
        }
        lanes = new int[entries.size()];
        offsets = new long[entries.size()];
        for (int i = 0; i < entries.size(); i++) {
            long e = entries.get(i);
            lanes[i] = (int) (e >>> LANE_SHIFT);
            offsets[i] = e & ((1L << LANE_SHIFT) - 1);
            if (restored) {
                Shared.RESTORED_OFFSETS.put(lanes[i], offsets[i]);
            }
        }
        quota = lanes.length == 0 ? 0 : perRun / parallelism + (index < perRun % parallelism ? 1 : 0);
    }

    /** Emits this run's quota under the checkpoint lock, then idles while {@code running}. */
    public void run(Object lock, LongConsumer emit, BooleanSupplier running) throws Exception {
        long emitted = 0;
        int li = 0;
        while (running.getAsBoolean() && emitted < quota) {
            synchronized (lock) {
                emit.accept(offsets[li] * totalLanes + lanes[li]);
                offsets[li]++;
                li = (li + 1) % lanes.length;
                emitted++;
            }
            Shared.EMITTED.incrementAndGet();
        }
        done = true;
        Shared.SOURCES_DONE.incrementAndGet();
        while (running.getAsBoolean()) {
            Thread.sleep(20);
        }
    }

    /** Stores the lanes' offsets; remembers the first checkpoint taken after the quota was emitted. */
    public void snapshot(ListState<Long> state, long checkpointId) throws Exception {
        if (Shared.snapshotSleepMs > 0) {
            Thread.sleep(Shared.snapshotSleepMs);
        }
        state.clear();
        for (int i = 0; i < lanes.length; i++) {
            state.add((((long) lanes[i]) << LANE_SHIFT) | offsets[i]);
        }
        if (done && !doneRecorded) {
            doneRecorded = true;
            Shared.DONE_AT_CHECKPOINT.put(subtask, checkpointId);
        }
    }
}
