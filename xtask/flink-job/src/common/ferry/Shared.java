package ferry;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * JVM-wide counters shared by the job's functions and the driver ({@link FerryJob}). The job
 * runs in a local MiniCluster in the driver's JVM and its classes come from the application
 * class loader (there is no user jar), so these statics are the same objects everywhere.
 */
public final class Shared {
    private Shared() {}

    /** Records the counter function processed in this run. */
    public static final AtomicLong PROCESSED = new AtomicLong();
    /** Records the sources emitted in this run. */
    public static final AtomicLong EMITTED = new AtomicLong();
    /** Source subtasks that emitted everything they were asked to. */
    public static final AtomicLong SOURCES_DONE = new AtomicLong();
    /** Per source lane: the first checkpoint id snapshotted after that lane emitted everything. */
    public static final Map<Integer, Long> DONE_AT_CHECKPOINT = new ConcurrentHashMap<>();
    /** Per source lane: the offset (records emitted) restored from operator state. */
    public static final Map<Integer, Long> RESTORED_OFFSETS = new ConcurrentHashMap<>();
    /** Per key: the count found in keyed state the first time this run saw the key. */
    public static final Map<Long, Long> RESTORED_COUNTS = new ConcurrentHashMap<>();
    /** Per key: the latest count in keyed state. */
    public static final Map<Long, Long> FINAL_COUNTS = new ConcurrentHashMap<>();
    /** Per key: the restored list-state length (ListState "recent"). */
    public static final Map<Long, Long> RESTORED_LIST_SIZES = new ConcurrentHashMap<>();
    /** Per key: the restored map-state entry count (MapState "buckets"). */
    public static final Map<Long, Long> RESTORED_MAP_SIZES = new ConcurrentHashMap<>();
    /** Per key: whether a timer registered in an earlier run was restored. */
    public static final Map<Long, Boolean> RESTORED_TIMERS = new ConcurrentHashMap<>();
    /** Microseconds the counter function busy-waits per record (to create backpressure). */
    public static volatile long slowMicros = 0;
    /** Milliseconds each source subtask sleeps while snapshotting (slow savepoints). */
    public static volatile long snapshotSleepMs = 0;
}
