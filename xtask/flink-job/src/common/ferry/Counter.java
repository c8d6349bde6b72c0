package ferry;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import java.util.HashSet;
import java.util.Set;

/**
 * The stateful operator (uid {@code ferry-counter}): per key a ValueState count, a MapState of
 * counts per bucket, a ListState of the last values, and a processing-time and an event-time
 * timer far in the future (so timers are part of every snapshot); plus a union operator
 * ListState with the records this subtask processed. Only APIs that exist unchanged from Flink
 * 1.10 to 2.3 are used (no {@code open()} override: its signature changed in 2.0).
 */
public class Counter extends KeyedProcessFunction<Long, Long, Long> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private static final long FAR_FUTURE = Long.MAX_VALUE / 2;

    private transient ValueState<Long> count;
    private transient ValueState<Long> timer;
    private transient MapState<Long, Long> buckets;
    private transient ListState<Long> recent;
    private transient ListState<Long> processedState;
    private transient long processed;
    private transient Set<Long> seen;

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        count = context.getKeyedStateStore().getState(new ValueStateDescriptor<>("count", Types.LONG));
        timer = context.getKeyedStateStore().getState(new ValueStateDescriptor<>("timer", Types.LONG));
        buckets = context.getKeyedStateStore().getMapState(
                new MapStateDescriptor<>("buckets", Types.LONG, Types.LONG));
        recent = context.getKeyedStateStore().getListState(new ListStateDescriptor<>("recent", Types.LONG));
        processedState = context.getOperatorStateStore().getUnionListState(
                new ListStateDescriptor<>("processed", Types.LONG));
        processed = 0;
        seen = new HashSet<>();
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        processedState.clear();
        processedState.add(processed);
    }

    @Override
    public void processElement(Long value, Context ctx, Collector<Long> out) throws Exception {
        long key = ctx.getCurrentKey();
        Long c = count.value();
        if (seen.add(key)) {
            Shared.RESTORED_COUNTS.put(key, c == null ? 0L : c);
            long listSize = 0;
            Iterable<Long> it = recent.get();
            if (it != null) {
                for (Long ignored : it) {
                    listSize++;
                }
            }
            Shared.RESTORED_LIST_SIZES.put(key, listSize);
            long mapSize = 0;
            Iterable<Long> keys = buckets.keys();
            if (keys != null) {
                for (Long ignored : keys) {
                    mapSize++;
                }
            }
            Shared.RESTORED_MAP_SIZES.put(key, mapSize);
            Shared.RESTORED_TIMERS.put(key, timer.value() != null);
        }
        long next = (c == null ? 0L : c) + 1;
        count.update(next);
        long bucket = value % 3;
        Long b = buckets.get(bucket);
        buckets.put(bucket, (b == null ? 0L : b) + 1);
        recent.add(value);
        if (next % 4 == 0) {
            // Keep the list short: the last few values only.
            java.util.List<Long> keep = new java.util.ArrayList<>();
            keep.add(value);
            recent.update(keep);
        }
        if (timer.value() == null) {
            long t = FAR_FUTURE + key;
            ctx.timerService().registerProcessingTimeTimer(t);
            ctx.timerService().registerEventTimeTimer(t);
            timer.update(t);
        }
        Shared.FINAL_COUNTS.put(key, next);
        processed++;
        long slow = Shared.slowMicros;
        if (slow > 0) {
            long until = System.nanoTime() + slow * 1000;
            while (System.nanoTime() < until) {
                // busy-wait (Thread.onSpinWait is Java 9+; 1.x jobs compile for Java 8)
            }
        }
        Shared.PROCESSED.incrementAndGet();
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Long> out) {
        // Timers are set far in the future and never fire during a test run.
    }
}
