package ferry;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.source.legacy.RichParallelSourceFunction;

/**
 * The job's source for Flink 2.x (legacy source API in `org.apache.flink.streaming.api.functions.source.legacy`); the logic is
 * in {@link SourceCore}. Compiled only against that major version (see xtask/src/flink.rs).
 */
public class FerrySource extends RichParallelSourceFunction<Long> implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;

    private final SourceCore core;
    private volatile boolean running = true;
    private transient ListState<Long> state;

    public FerrySource(long perRun, int totalLanes) {
        this.core = new SourceCore(perRun, totalLanes);
    }

    /** Adds the source (uid `ferry-source`) to `env`. */
    public static DataStream<Long> attach(StreamExecutionEnvironment env, long perRun, int totalLanes) {
        return env.addSource(new FerrySource(perRun, totalLanes), "ferry", Types.LONG)
                .uid("ferry-source");
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("lanes", Types.LONG));
        core.init(state, context.isRestored(), getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks());
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        core.snapshot(state, context.getCheckpointId());
    }

    @Override
    public void run(SourceContext<Long> ctx) throws Exception {
        core.run(ctx.getCheckpointLock(), ctx::collect, () -> running);
    }

    @Override
    public void cancel() {
        running = false;
    }
}
